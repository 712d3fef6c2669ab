"""Ingest status: servers' scan and ingest times, the queue, recent jobs, rejected files."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from testdash_models.models.types import utcnow

from testdash_web.queries import ingest, overview

bp = Blueprint("ingest", __name__)
ROWS = 50


@bp.get("/ingest")
def index() -> ResponseReturnValue:
    """The ingest page: five queries (the CronJob section is added by the write side)."""
    cutoff = overview.stale_before()
    servers = overview.all_servers()
    items = ingest.queue_items(None, None, ROWS).items
    by_state: dict[str, list[object]] = {}
    for item in items:
        by_state.setdefault(item.state, []).append(item)
    return render_template(
        "ingest/index.html",
        servers=servers,
        stale={s.id for s in servers if overview.is_stale(s, cutoff)},
        counts=ingest.queue_counts(),
        by_state=by_state,
        jobs=ingest.jobs(None, ROWS).items,
        rejected=ingest.rejected_files(None, ROWS).items,
        now=utcnow(),
    )
