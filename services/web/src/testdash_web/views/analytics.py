"""Flaky tests, run comparison and failure clusters (docs/analytics.md says how each is made)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from testdash_models.models import Run
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from testdash_web import analysis
from testdash_web.filters import limit_arg, text_arg
from testdash_web.paging import BIGINT
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


SIDES = ("base", "head")


def picked(args: MultiDict[str, str], side: str) -> str | None:
    """The run id given for SIDE: a typed id (the form's last value) wins over a listed one."""
    values = [v.strip().removeprefix("#") for v in args.getlist(side)]
    return next((v for v in reversed(values) if v), None)


def asked_to_compare(args: MultiDict[str, str]) -> bool:
    """The picker's Compare button: both sides sent, and not just another group's runs shown.

    A first visit or a link naming one run (``/compare?head=ID``) only fills in the form.
    """
    return "show" not in args and all(side in args for side in SIDES)


def check_pick(args: MultiDict[str, str]) -> tuple[dict[str, Run], list[str], int]:
    """The runs chosen for each side, what is wrong with the choice, and the status to answer."""
    ids: dict[str, int] = {}
    problems: list[str] = []
    for side in SIDES:
        raw = picked(args, side)
        if raw is None:
            continue
        if not (raw.isascii() and raw.isdigit() and len(raw) < 20) or int(raw) >= BIGINT:
            problems.append(f"{side.capitalize()}: {raw[:40]!r} is not a run id (a whole number).")
        else:
            ids[side] = int(raw)
    found = compare.runs_by_id(set(ids.values())) if ids else {}
    unknown = [f"There is no run #{i}." for i in dict.fromkeys(ids.values()) if i not in found]
    chosen = {side: found[i] for side, i in ids.items() if i in found}
    if unknown:
        return chosen, problems + unknown, 404
    if not asked_to_compare(args) or problems:
        return chosen, problems, 400 if problems else 200
    if len(chosen) < 2:
        need = " and ".join(side for side in SIDES if side not in chosen)
        problems.append(f"Choose a {need} run: pick it in the list or type its id.")
    elif chosen["base"].id == chosen["head"].id:
        problems.append(f"Base and head are both run #{chosen['base'].id}: choose two runs.")
    return chosen, problems, 400 if problems else 200


def suggest(chosen: dict[str, Run], listed: list[Run]) -> dict[str, Run]:
    """Fill a side not chosen: the head after the base (else the newest), the base before it.

    The base is the head's server and run tag's previous run when the list has one.
    """
    out = dict(chosen)
    base = out.get("base")
    if "head" not in out and listed:
        if base not in listed:
            out["head"] = listed[0]
        elif listed.index(base) > 0:
            out["head"] = listed[listed.index(base) - 1]
    head = out.get("head")
    if "base" not in out and head in listed:
        older = listed[listed.index(head) + 1 :]
        same = [r for r in older if (r.server_id, r.run_tag) == (head.server_id, head.run_tag)]
        if same or older:
            out["base"] = (same or older)[0]
    return out


@bp.get("/compare")
def compare_pick() -> ResponseReturnValue:
    """Pick a base and a head run (a group's recent runs or any id); a good pair is compared."""
    chosen, problems, status = check_pick(request.args)
    if asked_to_compare(request.args) and not problems:
        base, head = chosen["base"].id, chosen["head"].id
        return redirect(url_for("analytics.compare_runs", base_id=base, head_id=head))
    server, run_tag = text_arg(request.args, "server"), text_arg(request.args, "run_tag")
    anchor = chosen.get("head") or chosen.get("base")
    if "server" not in request.args and anchor is not None:  # arriving from a run: its group
        server, run_tag = anchor.server.name, anchor.run_tag
    listed = compare.recent_runs(server, run_tag)
    shown = {run.id for run in listed}
    extra = [run for run in dict.fromkeys(chosen.values()) if run.id not in shown]
    checked = chosen if problems else suggest(chosen, listed)
    return render_template(
        "analytics/compare_pick.html",
        server=server,
        run_tag=run_tag,
        servers=[s.name for s in overview.all_servers()],
        run_tags=compare.run_tags(server),
        runs=extra + listed,
        kept={side: run.id for side, run in chosen.items()},  # the choice, not a suggestion
        checked={side: run.id for side, run in checked.items()},
        problems=problems,
    ), status


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
    "muted": "Muted failures",
}
