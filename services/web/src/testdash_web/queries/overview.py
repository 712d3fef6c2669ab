"""The overview: every server's latest runs and trend, the last day, stale ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select, true, union_all
from testdash_models import db
from testdash_models.models import File, Run, Server
from testdash_models.models.types import utcnow

TREND_RUNS = 20
RUN_COLUMNS = (
    Run.id,
    Run.server_id,
    Run.run_dir,
    Run.started_at,
    Run.status,
    Run.total,
    Run.passed,
    Run.failed,
    Run.errors,
    Run.skipped,
    Run.flaky,
)


def pass_rate(run: Any) -> float | None:
    """Passed over passed, failed and errors (skipped tests do not count); None when none ran."""
    ran = run.passed + run.failed + run.errors
    return run.passed / ran if ran else None


@dataclass
class ServerView:
    """A server, its newest runs (newest first) and whether its ingest is stale."""

    server: Server
    runs: list[Any] = field(default_factory=list)
    stale: bool = False

    @property
    def latest(self) -> Any | None:
        """The newest run, if any."""
        return self.runs[0] if self.runs else None


def stale_before() -> datetime:
    """Servers whose last successful ingest is older than this are stale."""
    return utcnow() - timedelta(hours=current_app.config["INGEST_STALE_HOURS"])


def is_stale(server: Server, cutoff: datetime) -> bool:
    """No successful ingest since CUTOFF (or ever)."""
    return server.last_success_at is None or server.last_success_at < cutoff


def _recent_runs() -> Select[*tuple[Any, ...]]:
    """The newest TREND_RUNS runs of every server in one statement."""
    order = (Run.started_at.desc().nulls_last(), Run.id.desc())
    if db.engine.dialect.name == "postgresql":
        # LATERAL walks ix_runs_server_started backwards per server instead of ranking all
        # runs; NULLS LAST would defeat that index, so undated runs come from their own part.
        mine = select(*RUN_COLUMNS).where(Run.server_id == Server.id)
        dated = mine.where(Run.started_at.is_not(None))
        dated = dated.order_by(Run.started_at.desc(), Run.id.desc()).limit(TREND_RUNS)
        undated = mine.where(Run.started_at.is_(None)).order_by(Run.id.desc()).limit(TREND_RUNS)
        per_server = union_all(dated, undated).lateral()
        return select(per_server).select_from(Server).join(per_server, true())
    ranked = select(
        *RUN_COLUMNS, func.row_number().over(partition_by=Run.server_id, order_by=order).label("rn")
    ).subquery()
    return select(ranked).where(ranked.c.rn <= TREND_RUNS)


def all_servers() -> list[Server]:
    """Every server, by name."""
    return list(db.session.scalars(select(Server).order_by(Server.name)))


def servers_with_runs() -> list[ServerView]:
    """Every server with its newest runs: two queries."""
    cutoff = stale_before()
    views = {s.id: ServerView(s, stale=is_stale(s, cutoff)) for s in all_servers()}
    for row in db.session.execute(_recent_runs()):
        if row.server_id in views:
            views[row.server_id].runs.append(row)
    for view in views.values():
        view.runs.sort(key=lambda r: (r.started_at is not None, r.started_at, r.id), reverse=True)
        del view.runs[TREND_RUNS:]
    return list(views.values())


def rejected_file_count() -> int:
    """How many stored files were rejected."""
    return db.session.scalar(select(func.count(File.id)).where(File.status == "rejected")) or 0
