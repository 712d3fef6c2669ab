"""The API's endpoints; each mirrors a page and returns what the schema table describes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from testdash_models.models.ingest import QUEUE_STATES
from testdash_models.models.results import RESULT_STATUSES
from werkzeug.exceptions import BadRequest

from testdash_web.api import schema as s
from testdash_web.api.openapi import document
from testdash_web.filters import RunFilters, limit_arg, text_arg
from testdash_web.paging import Page
from testdash_web.queries import ingest, overview, runs, tests

bp = Blueprint("api", __name__, url_prefix="/api/v1")
SUMMARY_ROWS = 50


def paged(fields: tuple[s.Field, ...], page: Page[Any]) -> dict[str, Any]:
    """A page as ``{items, next_cursor}``."""
    return {"items": [s.dump(fields, row) for row in page.items], "next_cursor": page.next_cursor}


def cursor() -> str | None:
    """The ``cursor`` parameter."""
    return text_arg(request.args, "cursor", max_length=1000)


def choice(name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional parameter that must be one of ALLOWED."""
    value = text_arg(request.args, name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
    return value


def server_json(view: overview.ServerView) -> dict[str, Any]:
    """A server with its stale flag, latest run and pass-rate trend (oldest first)."""
    trend = [
        {"run_id": r.id, "started_at": s.iso(r.started_at), "pass_rate": overview.pass_rate(r)}
        for r in reversed(view.runs)
    ]
    return {
        **s.dump(s.SERVER, view.server),
        "stale": view.stale,
        "latest_run": s.dump(s.RUN_SUMMARY, view.latest) if view.latest else None,
        "trend": trend,
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of this API."""
    return document()


@bp.get("/servers")
def servers() -> ResponseReturnValue:
    """Every server with its latest run, trend and whether its ingest is stale."""
    return {"items": [server_json(view) for view in overview.servers_with_runs()]}


@bp.get("/runs")
def run_list() -> ResponseReturnValue:
    """Runs matching the filters, one page at a time."""
    filters = RunFilters.from_args(request.args)
    return paged(s.RUN, runs.list_runs(filters, cursor(), limit_arg(request.args)))


@bp.get("/runs/<int:run_id>")
def run_detail(run_id: int) -> ResponseReturnValue:
    """One run, its files and its failed attempts with their text."""
    run = runs.get_run(run_id)
    return {
        "run": s.dump(s.RUN, run),
        "files": [s.dump(s.FILE, f) for f in runs.run_files(run_id)],
        "failures": [s.dump(s.RESULT, row) for row in runs.failures(run_id)],
    }


@bp.get("/runs/<int:run_id>/results")
def run_results(run_id: int) -> ResponseReturnValue:
    """Every result (attempt) of a run, by id, optionally of one status."""
    status = choice("status", RESULT_STATUSES)
    page = runs.run_results(run_id, status, cursor(), limit_arg(request.args))
    return paged(s.RESULT, page)


@bp.get("/tests/<int(signed=True):test_id>")
def test_detail(test_id: int) -> ResponseReturnValue:
    """One test and the run in which it started failing (null when it passes now)."""
    test = tests.get_test(test_id)
    server = text_arg(request.args, "server")
    since = tests.first_failing(test_id, server)
    failing_since = s.dump(s.HISTORY, since) if since else None
    return {"test": s.dump(s.TEST, test), "failing_since": failing_since}


@bp.get("/tests/<int(signed=True):test_id>/history")
def test_history(test_id: int) -> ResponseReturnValue:
    """The test's final results across runs, newest first."""
    tests.get_test(test_id)
    server = text_arg(request.args, "server")
    return paged(s.HISTORY, tests.history(test_id, server, cursor(), limit_arg(request.args)))


@bp.get("/search/tests")
def search_tests() -> ResponseReturnValue:
    """Tests whose name contains ``q`` (at least 3 characters)."""
    query = text_arg(request.args, "q")
    if query is None or len(query) < 3:
        raise BadRequest("q needs at least 3 characters")
    return paged(s.TEST, tests.search_tests(query, cursor(), limit_arg(request.args)))


@bp.get("/ingest")
def ingest_status() -> ResponseReturnValue:
    """Servers' ingest times, queue counts, and the newest queue items, jobs and rejections."""
    cutoff = overview.stale_before()
    return {
        "servers": [
            {**s.dump(s.SERVER, x), "stale": overview.is_stale(x, cutoff)}
            for x in overview.all_servers()
        ],
        "queue_counts": ingest.queue_counts(),
        "queue": paged(s.QUEUE_ITEM, ingest.queue_items(None, None, SUMMARY_ROWS))["items"],
        "jobs": paged(s.JOB, ingest.jobs(None, SUMMARY_ROWS))["items"],
        "rejected_files": paged(s.REJECTED_FILE, ingest.rejected_files(None, SUMMARY_ROWS))[
            "items"
        ],
    }


@bp.get("/ingest/queue")
def ingest_queue() -> ResponseReturnValue:
    """Queue items, newest first, optionally in one state."""
    state = choice("state", QUEUE_STATES)
    return paged(s.QUEUE_ITEM, ingest.queue_items(state, cursor(), limit_arg(request.args)))


@bp.get("/ingest/jobs")
def ingest_jobs() -> ResponseReturnValue:
    """Ingest jobs with their figures, newest first."""
    return paged(s.JOB, ingest.jobs(cursor(), limit_arg(request.args)))


@bp.get("/ingest/rejected-files")
def ingest_rejected() -> ResponseReturnValue:
    """Rejected files with their reasons, newest first."""
    return paged(s.REJECTED_FILE, ingest.rejected_files(cursor(), limit_arg(request.args)))
