"""Trends, test rankings, quarantine for CI and rename aliases (docs/analytics.md)."""

from __future__ import annotations

from types import SimpleNamespace

from flask import request
from flask.typing import ResponseReturnValue

from testdash_web.api import schema as s
from testdash_web.api.routes import bp
from testdash_web.filters import limit_arg, text_arg
from testdash_web.queries import identity, quarantine, trends
from testdash_web.queries.tests import get_test
from testdash_web.views.trends import days_arg, kind_arg, series_args


@bp.get("/trends")
def trend_series() -> ResponseReturnValue:
    """Per server (or server and run_tag), each day (in ``tz``) with runs: counts, pass rate."""
    params = series_args(request.args)
    return {
        "tz": params["zone"].key,
        "days": params["days"],
        "group": params["group"],
        "series": [
            {
                "server": one.server,
                "run_tag": one.run_tag,
                "all_tags": one.all_tags,
                "points": [s.dump(s.TREND_POINT, p) for p in one.points],
            }
            for one in trends.series(**params)
        ],
    }


@bp.get("/trends/tests")
def trend_tests() -> ResponseReturnValue:
    """The most failing, slowest or flakiest tests over the last ``days`` UTC days."""
    kind, days = kind_arg(request.args), days_arg(request.args)
    rows = trends.ranking(
        kind,
        days=days,
        server=text_arg(request.args, "server"),
        team=text_arg(request.args, "team"),
        limit=limit_arg(request.args),
    )
    return {"kind": kind, "days": days, "items": [s.dump(s.RANKED_TEST, r) for r in rows]}


@bp.get("/quarantine")
def quarantine_list() -> ResponseReturnValue:
    """Tests muted now on ``server`` and ``branch`` (mutes for all servers/branches included)."""
    server, branch = text_arg(request.args, "server"), text_arg(request.args, "branch")
    items = []
    for q, test, server_name in quarantine.active(server, branch, text_arg(request.args, "team")):
        row = SimpleNamespace(
            id=q.id,
            test_case_id=test.id if test else q.test_case_id,  # one item per name of the test
            suite=test.suite if test else None,
            classname=test.classname if test else None,
            name=test.name if test else None,
            server=server_name,
            branch=q.branch,
            reason=q.reason,
            created_by=q.created_by,
            created_at=q.created_at,
            expires_at=q.expires_at,
        )
        items.append(s.dump(s.MUTED_TEST, row))
    return {"items": items}


@bp.get("/tests/<int(signed=True):test_id>/aliases")
def test_aliases(test_id: int) -> ResponseReturnValue:
    """The renames into this test (its history includes them) and out of it."""
    get_test(test_id)
    into, out = identity.aliases_of(test_id)
    return {
        "renamed_from": [s.dump(s.ALIAS, alias) for alias, _ in into],
        "renamed_to": s.dump(s.ALIAS, out) if out else None,
    }
