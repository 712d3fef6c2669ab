"""The overview: which servers are red, their trend, the last day, stale ingest."""

from __future__ import annotations

import math
from datetime import timedelta

from flask import Blueprint, render_template, url_for
from flask.typing import ResponseReturnValue
from testdash_models.models.types import utcnow

from testdash_web.charts import Chart, line_chart
from testdash_web.queries import overview, runs
from testdash_web.templating import percent

bp = Blueprint("overview", __name__)
RECENT_RUNS = 25


def trend(view: overview.ServerView) -> Chart:
    """Pass rate of the server's newest runs, oldest first."""
    values = [
        (
            overview.pass_rate(run),
            f"{run.run_dir}: {percent(overview.pass_rate(run))} passed",
            url_for("runs.detail", run_id=run.id),
            run.status,
        )
        for run in reversed(view.runs)
    ]
    # Pass rates near 100 % would draw a flat line on a 0-100 scale: start at the lowest tenth.
    rates = [rate for rate, *_ in values if rate is not None]
    bottom = min(math.floor(min(rates, default=0.0) * 10) / 10, 0.9)
    return line_chart(values, top=1.0, bottom=bottom, scale=f"{bottom * 100:.0f}–100 %")


@bp.get("/")
def index() -> ResponseReturnValue:
    """Servers with latest run and trend, runs in the last 24 h, stale servers: five queries."""
    servers = overview.servers_with_runs()
    day_count, day_runs = runs.runs_since(utcnow() - timedelta(hours=24), RECENT_RUNS)
    return render_template(
        "overview/index.html",
        servers=servers,
        trends={view.server.id: trend(view) for view in servers},
        stale=[view for view in servers if view.stale],
        day_count=day_count,
        day_runs=day_runs,
        rejected=overview.rejected_file_count(),
    )
