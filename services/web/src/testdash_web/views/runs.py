"""The runs list (filters, sort, keyset pages, CSV and JSON export) and one run's pages.

A run's page sends what is read first: totals, a page of each kind of failure, its suites'
counts. A big run's suites load their cases when opened (``static/suites.js`` fetches
``suite_cases``); without script, each links to its own page.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from testdash_models.models import Run
from werkzeug.exceptions import BadRequest

from testdash_web.api.schema import RUN, dump
from testdash_web.filters import RunFilters, limit_arg, text_arg
from testdash_web.queries import compare, overview, quarantine, run_page, runs, stored

SUITE_NAME_MAX = 4096

bp = Blueprint("runs", __name__)


@bp.get("/runs")
def index() -> ResponseReturnValue:
    """Runs matching the filters in the URL, one page at a time."""
    filters = RunFilters.from_args(request.args)
    cursor = text_arg(request.args, "cursor", max_length=1000)
    limit = limit_arg(request.args)
    page = runs.list_runs(filters, cursor, limit)
    args = filters.args(request.args)
    return render_template(
        "runs/index.html",
        filters=filters,
        args=args,
        paging=dict(args, limit=str(limit)) if "limit" in request.args else args,
        page=page,
        servers=[server.name for server in overview.all_servers()],
    )


def _cell(value: object) -> object:
    """A CSV cell; text a spreadsheet would run as a formula is quoted (OWASP CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_rows(filters: RunFilters) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([field.name for field in RUN])
    for run in runs.iter_runs(filters):
        writer.writerow([_cell(v) for v in dump(RUN, run).values()])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_rows(filters: RunFilters) -> Iterator[str]:
    separator = "[\n"
    for run in runs.iter_runs(filters):
        yield separator + json.dumps(dump(RUN, run))
        separator = ",\n"
    yield "[]\n" if separator == "[\n" else "\n]\n"


@bp.get("/runs.csv")
def export_csv() -> ResponseReturnValue:
    """Every matching run as CSV, streamed."""
    filters = RunFilters.from_args(request.args)
    return Response(
        stream_with_context(_csv_rows(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=runs.csv"},
    )


@bp.get("/runs.json")
def export_json() -> ResponseReturnValue:
    """Every matching run as a JSON array, streamed."""
    filters = RunFilters.from_args(request.args)
    return Response(
        stream_with_context(_json_rows(filters)),
        mimetype="application/json",
        headers={"Content-Disposition": "attachment; filename=runs.json"},
    )


def _muted(run: Run) -> set[int]:
    """Tests muted on the run's server and branch when it started."""
    return quarantine.muted_test_ids(run.server.name, run.branch, run.started_at or run.created_at)


def _keep(*names: str) -> dict[str, str]:
    """The given URL parameters a page's links carry on (the cursor never)."""
    return {name: request.args[name] for name in names if request.args.get(name)}


@bp.get("/runs/<int:run_id>")
def detail(run_id: int) -> ResponseReturnValue:
    """One run: totals, a page of each kind of failure, its suites, its files."""
    run = runs.get_run(run_id)
    files = runs.run_files(run_id)
    team = text_arg(request.args, "team")
    limit = limit_arg(request.args, run_page.FAILURE_PAGE)
    return render_template(
        "runs/detail.html",
        run=run,
        files=files,
        team=team,
        keep=_keep("team", "limit"),
        pages=run_page.failure_pages(run_id, _muted(run), team, limit),
        suites=run_page.suites(run),
        since=compare.since_previous(run),
        stored=stored.stored_files(run, files),
        volume_path=stored.volume_path,
    )


@bp.get("/runs/<int:run_id>/failures")
def failures(run_id: int) -> ResponseReturnValue:
    """One kind of the run's failures (``section``), a keyset page at a time."""
    section = request.args.get("section") or "failures"
    if section not in run_page.SECTIONS:
        raise BadRequest(f"section must be one of {', '.join(run_page.SECTIONS)}")
    run = runs.get_run(run_id)
    team = text_arg(request.args, "team")
    limit = limit_arg(request.args, run_page.FAILURE_PAGE)
    cursor = text_arg(request.args, "cursor", max_length=1000)
    pages = run_page.failure_pages(run_id, _muted(run), team, limit, section, cursor)
    return render_template(
        "runs/failures.html",
        run=run,
        section=section,
        page=pages[section],
        team=team,
        keep=_keep("team", "limit"),
    )


def _suite_args() -> tuple[str, str | None, int]:
    """The suite's name (empty for tests without one), the cursor and the page size."""
    name = request.args.get("name")
    if name is None or len(name) > SUITE_NAME_MAX or "\x00" in name:
        raise BadRequest(f"name must be a suite's name of at most {SUITE_NAME_MAX} characters")
    cursor = text_arg(request.args, "cursor", max_length=1000)
    return name, cursor, limit_arg(request.args, run_page.SUITE_PAGE)


@bp.get("/runs/<int:run_id>/suite")
def suite(run_id: int) -> ResponseReturnValue:
    """One suite of a run: its counts and its cases, a keyset page at a time."""
    name, cursor, limit = _suite_args()
    run = runs.get_run(run_id)
    found = run_page.suite_cases(run_id, name, cursor, limit)
    return render_template("runs/suite.html", run=run, name=name, found=found, keep=_keep("limit"))


@bp.get("/runs/<int:run_id>/suite/cases")
def suite_cases(run_id: int) -> ResponseReturnValue:
    """The first page of a suite's cases as an HTML fragment, for the run page's script."""
    name, cursor, limit = _suite_args()
    run = runs.get_run(run_id)
    found = run_page.suite_cases(run_id, name, cursor, limit)
    return render_template(
        "runs/suite_cases.html", run=run, name=name, found=found, keep=_keep("limit")
    )
