"""Trends per server and run_tag by day in a chosen zone, and test rankings, from roll-ups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest

from testdash_web import owners
from testdash_web.charts import Chart, line_chart
from testdash_web.filters import limit_arg, text_arg
from testdash_web.queries import overview, trends
from testdash_web.templating import duration, percent

bp = Blueprint("trends", __name__)
MAX_DAYS = 400
PAGE_SERIES = 50  # charts on one page; the API gives every series


def days_arg(args: Mapping[str, str], default: int = 30) -> int:
    """The window in days: 1 to MAX_DAYS."""
    raw = text_arg(args, "days")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise BadRequest(f"days must be a whole number from 1 to {MAX_DAYS}")
    return int(raw)


def zone_arg(args: Mapping[str, str]) -> ZoneInfo:
    """The IANA zone days are cut in (default DEFAULT_TIMEZONE)."""
    name = text_arg(args, "tz", max_length=64) or current_app.config["DEFAULT_TIMEZONE"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"tz {name!r} is not an IANA time zone such as Europe/Berlin") from None


def kind_arg(args: Mapping[str, str]) -> str:
    """Which ranking: failing, slowest or flaky."""
    kind = text_arg(args, "kind") or "failing"
    if kind not in trends.KINDS:
        raise BadRequest(f"kind must be one of {', '.join(trends.KINDS)}")
    return kind


def series_args(args: Mapping[str, str]) -> dict[str, Any]:
    """The trend filters from the query string, and how series are grouped."""
    filters = {name: text_arg(args, name) for name in ("server", "run_tag", "branch")}
    group = text_arg(args, "group") or trends.default_group(filters["server"], filters["run_tag"])
    if group not in trends.GROUPS:
        raise BadRequest(f"group must be one of {', '.join(trends.GROUPS)}")
    return {"days": days_arg(args), "zone": zone_arg(args), "group": group, **filters}


def charts(one: trends.Series) -> dict[str, Chart]:
    """Pass rate, summed test time and test count of a series, oldest day first."""
    days = one.points
    return {
        "pass rate": line_chart(
            [(p.pass_rate, f"{p.day}: {percent(p.pass_rate)}", None, "") for p in days],
            width=600,
            height=80,
            top=1.0,
            scale="0–100 %",
        ),
        "test time": line_chart(
            [(p.duration, f"{p.day}: {duration(p.duration)}", None, "") for p in days],
            width=600,
            height=80,
            scale=f"0–{duration(max((p.duration for p in days), default=0))}",
        ),
        "tests": line_chart(
            [(float(p.tests), f"{p.day}: {p.tests} tests", None, "") for p in days],
            width=600,
            height=80,
            scale=f"0–{max((p.tests for p in days), default=0)}",
        ),
    }


@bp.get("/trends")
def index() -> ResponseReturnValue:
    """Each server and run_tag, day by day: one query over run roll-ups."""
    params = series_args(request.args)
    found = trends.series(**params)
    shown = found[:PAGE_SERIES]
    return render_template(
        "trends/index.html",
        params=params,
        series=shown,
        hidden=len(found) - len(shown),
        charts=[charts(one) for one in shown],
        servers=[s.name for s in overview.all_servers()],
    )


@bp.get("/trends/tests")
def tests() -> ResponseReturnValue:
    """Most failing, slowest or flakiest tests over the window, optionally of a team."""
    kind, days = kind_arg(request.args), days_arg(request.args)
    server, team = text_arg(request.args, "server"), text_arg(request.args, "team")
    rows = trends.ranking(
        kind, days=days, server=server, team=team, limit=limit_arg(request.args, default=50)
    )
    return render_template(
        "trends/tests.html",
        kind=kind,
        days=days,
        server=server,
        team=team,
        rows=rows,
        kinds=trends.KINDS,
        teams=owners.teams(),
        servers=[s.name for s in overview.all_servers()],
    )
