"""The analytics endpoints: flaky tests, run comparison and failure clusters."""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask.typing import ResponseReturnValue

from testdash_web.api import schema as s
from testdash_web.api.routes import bp, cursor, paged
from testdash_web.filters import limit_arg, text_arg
from testdash_web.queries import clusters, compare, flaky, runs, tests
from testdash_web.views.analytics import days_arg, flaky_filters


def flakiness_json(found: flaky.Flakiness) -> dict[str, Any]:
    """A test's flakiness in one group with the runs that prove it."""
    return {
        **s.dump(s.FLAKY_TEST, found),
        "evidence": [s.dump(s.EXECUTION, e) for e in found.executions],
    }


def comparison_json(c: compare.Comparison) -> dict[str, Any]:
    """A comparison: both runs, counts and the (capped) lists of each category."""
    return {
        "base": s.dump(s.RUN, c.base),
        "head": s.dump(s.RUN, c.head),
        "counts": c.counts,
        "changes": {name: [s.dump(s.CHANGE, x) for x in xs] for name, xs in c.changes.items()},
        "slower_factor": c.slower_factor,
        "slower_seconds": c.slower_seconds,
    }


@bp.get("/flaky")
def flaky_list() -> ResponseReturnValue:
    """Flaky tests by impact, optionally of one server, run_tag or branch."""
    f = flaky_filters(request.args)
    ranked = flaky.ranking(f["server"], f["run_tag"], f["branch"], limit_arg(request.args, 100))
    return {"items": [s.dump(s.FLAKY_TEST, x) for x in ranked]}


@bp.get("/tests/<int(signed=True):test_id>/flakiness")
def test_flakiness(test_id: int) -> ResponseReturnValue:
    """The test's flakiness in each server + run_tag (+ branch) it ran in, with evidence."""
    test = tests.get_test(test_id)
    found = flaky.for_test(test, text_arg(request.args, "server"))
    return {"items": [flakiness_json(x) for x in found]}


@bp.get("/runs/<int:run_id>/compare")
def compare_previous(run_id: int) -> ResponseReturnValue:
    """The run against the previous run of its series (404 when it has none)."""
    previous = compare.previous_run(runs.get_run(run_id))
    if previous is None:
        abort(404, description=f"run {run_id} has no previous run in its series")
    return comparison_json(compare.compare(previous.id, run_id))


@bp.get("/runs/<int:base_id>/compare/<int:head_id>")
def compare_runs(base_id: int, head_id: int) -> ResponseReturnValue:
    """What changed from the base run to the head run."""
    return comparison_json(compare.compare(base_id, head_id))


@bp.get("/clusters")
def cluster_list() -> ResponseReturnValue:
    """Failure fingerprints of the last ``days`` days, most failures first."""
    server = text_arg(request.args, "server")
    page = clusters.clusters(server, days_arg(request.args), cursor(), limit_arg(request.args))
    return paged(s.CLUSTER, page)


@bp.get("/clusters/<int(signed=True):fingerprint>")
def cluster_detail(fingerprint: int) -> ResponseReturnValue:
    """One cluster's figures and a page of its failures, newest run first."""
    found = clusters.cluster(fingerprint)
    page = clusters.failures(fingerprint, cursor(), limit_arg(request.args))
    return {"cluster": s.dump(s.CLUSTER, found), "failures": paged(s.CLUSTER_FAILURE, page)}
