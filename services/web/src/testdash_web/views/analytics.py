"""Flaky tests, run comparison and failure clusters (docs/analytics.md says how each is made)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest

from testdash_web import analysis
from testdash_web.filters import limit_arg, text_arg
from testdash_web.queries import clusters, compare, flaky, overview, runs

bp = Blueprint("analytics", __name__)
bp.record_once(lambda state: analysis.init_app(state.app))
FLAKY_FILTERS = ("server", "run_tag", "branch")


def flaky_filters(args: Mapping[str, str]) -> dict[str, str | None]:
    """The flaky list's filters from the query string."""
    return {name: text_arg(args, name) for name in FLAKY_FILTERS}


def days_arg(args: Mapping[str, str]) -> int:
    """How many days back the clusters page looks (1 to MAX_DAYS)."""
    raw = args.get("days") or str(clusters.DEFAULT_DAYS)
    if not raw.isdigit() or not 1 <= int(raw) <= clusters.MAX_DAYS:
        raise BadRequest(f"days must be a whole number from 1 to {clusters.MAX_DAYS}")
    return int(raw)


@bp.get("/flaky")
def flaky_tests() -> ResponseReturnValue:
    """Flaky tests ranked by impact (flakiness times executions): four queries."""
    filters = flaky_filters(request.args)
    limit = limit_arg(request.args, default=100)
    return render_template(
        "analytics/flaky.html",
        filters=filters,
        ranked=flaky.ranking(filters["server"], filters["run_tag"], filters["branch"], limit),
        servers=[s.name for s in overview.all_servers()],
        defaults=analysis.settings().flaky,
    )


@bp.get("/runs/<int:base_id>/compare/<int:head_id>")
def compare_runs(base_id: int, head_id: int) -> ResponseReturnValue:
    """What changed from the base run to the head run."""
    return render_template(
        "analytics/compare.html", c=compare.compare(base_id, head_id), categories=CATEGORY_TITLES
    )


@bp.get("/runs/<int:run_id>/compare")
def compare_previous(run_id: int) -> ResponseReturnValue:
    """The run against the previous run of its server and run_tag (and branch)."""
    run = runs.get_run(run_id)
    previous = compare.previous_run(run)
    if previous is None:
        return render_template("analytics/no_previous.html", run=run), 404
    return redirect(url_for("analytics.compare_runs", base_id=previous.id, head_id=run_id))


@bp.get("/clusters")
def cluster_list() -> ResponseReturnValue:
    """Failure fingerprints of the last days, most failures first: three queries."""
    server = text_arg(request.args, "server")
    days = days_arg(request.args)
    cursor = text_arg(request.args, "cursor", max_length=1000)
    params = {k: v for k, v in (("server", server), ("days", request.args.get("days"))) if v}
    return render_template(
        "analytics/clusters.html",
        page=clusters.clusters(server, days, cursor, limit_arg(request.args)),
        server=server,
        days=days,
        params=params,
        servers=[s.name for s in overview.all_servers()],
    )


@bp.get("/clusters/<int(signed=True):fingerprint>")
def cluster_detail(fingerprint: int) -> ResponseReturnValue:
    """One cluster's figures and its failures, newest first, a page at a time."""
    cursor = text_arg(request.args, "cursor", max_length=1000)
    return render_template(
        "analytics/cluster.html",
        cluster=clusters.cluster(fingerprint),
        page=clusters.failures(fingerprint, cursor, limit_arg(request.args)),
    )


CATEGORY_TITLES = {
    "new_failures": "New failures",
    "fixed": "Fixed",
    "still_failing": "Still failing",
    "new_tests": "New tests",
    "removed_tests": "Removed tests",
    "slower": "Slower",
}
