"""Retention: delete old results a few runs per transaction, keeping their roll-ups.

Runs, their files and their roll-ups stay: the runs list, trends and rankings
survive, and the scanner does not take a pruned run's files for new ones. A run
is rolled up before any result of it is deleted. Cutoffs fall on UTC midnight, so
a server's day is pruned whole (see ``rollups``: a day with pruned runs is sealed).
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, delete, func, select, update
from sqlalchemy.orm import Session
from testdash_models.models import File, QueueItem, Result, Run, RunRollup, Server

from testdash_engine.persist.rollups import roll_up_runs

FINISHED = ("done", "failed", "expired")
ROW_BATCH = 5000


@dataclass(slots=True)
class Retention:
    """How long things are kept; 0 days keeps them for ever."""

    days: int
    server_days: dict[str, int]
    rejected_file_days: int
    queue_days: int
    batch_runs: int = 20
    pause: float = 0.0


@dataclass(slots=True)
class PruneStats:
    """What one prune deleted (or, dry, would delete)."""

    runs: int = 0
    results: int = 0
    rolled_up: int = 0
    rejected_files: int = 0
    queue_items: int = 0
    transactions: int = 0


def parse_server_days(text: str) -> dict[str, int]:
    """``qa-lab=30,perf=365`` as a mapping; a bad entry raises ValueError naming it."""
    out: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, days = entry.partition("=")
        if not sep or not name.strip() or not days.strip().isdigit():
            raise ValueError(f"{entry!r} is not SERVER=DAYS")
        out[name.strip()] = int(days)
    return out


def cutoff(now: datetime, days: int) -> datetime:
    """UTC midnight DAYS days before NOW: results of runs before it go."""
    day = (now.astimezone(UTC) - timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def expired_runs(session: Session, server_id: int, before: datetime) -> list[int]:
    """The server's runs from before BEFORE whose results are still stored, oldest first."""
    moment = func.coalesce(Run.started_at, Run.created_at)
    stmt = (
        select(Run.id)
        .outerjoin(RunRollup, RunRollup.run_id == Run.id)
        .where(Run.server_id == server_id, moment < before, RunRollup.pruned_at.is_(None))
        .order_by(moment, Run.id)
    )
    return list(session.scalars(stmt))


def _unrolled(session: Session, run_ids: list[int]) -> list[int]:
    rolled = set(session.scalars(select(RunRollup.run_id).where(RunRollup.run_id.in_(run_ids))))
    return [run_id for run_id in run_ids if run_id not in rolled]


def _prune_runs(
    session: Session, run_ids: list[int], policy: Retention, stats: PruneStats, dry: bool
) -> None:
    for start in range(0, len(run_ids), policy.batch_runs):
        chunk = run_ids[start : start + policy.batch_runs]
        if dry:
            stats.results += (
                session.scalar(
                    select(func.count()).select_from(Result).where(Result.run_id.in_(chunk))
                )
                or 0
            )
            stats.runs += len(chunk)
            continue
        unrolled = _unrolled(session, chunk)
        if unrolled:
            stats.rolled_up += roll_up_runs(session, unrolled)
        deleted: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            delete(Result).where(Result.run_id.in_(chunk))
        )
        session.execute(
            update(RunRollup).where(RunRollup.run_id.in_(chunk)).values(pruned_at=_now())
        )
        session.commit()  # one short transaction per BATCH_RUNS runs: no long-held locks
        stats.results += deleted.rowcount or 0
        stats.runs += len(chunk)
        stats.transactions += 1
        if policy.pause:
            clock.sleep(policy.pause)


def _delete_in_batches(
    session: Session,
    model: type[File] | type[QueueItem],
    where: list[ColumnElement[bool]],
    dry: bool,
) -> tuple[int, int]:
    """Delete rows of MODEL matching WHERE, ROW_BATCH per transaction; (rows, transactions)."""
    total = batches = 0
    while True:
        ids = list(session.scalars(select(model.id).where(*where).limit(ROW_BATCH)))
        if not ids:
            return total, batches
        if dry:
            count = session.scalar(select(func.count()).select_from(model).where(*where))
            return int(count or 0), 0
        session.execute(delete(model).where(model.id.in_(ids)))
        session.commit()
        total, batches = total + len(ids), batches + 1


def prune(
    session: Session,
    policy: Retention,
    *,
    server_name: str | None = None,
    now: datetime | None = None,
    dry: bool = False,
) -> PruneStats:
    """Delete what the retention policy says has expired; commit as it goes."""
    now = now or _now()
    stats = PruneStats()
    stmt = select(Server).order_by(Server.name)
    if server_name is not None:
        stmt = stmt.where(Server.name == server_name)
    servers = session.scalars(stmt).all()
    for server in servers:
        days = policy.server_days.get(server.name, policy.days)
        if days > 0:
            _prune_runs(
                session, expired_runs(session, server.id, cutoff(now, days)), policy, stats, dry
            )
    if policy.rejected_file_days > 0 and server_name is None:
        old = now - timedelta(days=policy.rejected_file_days)
        rows, txs = _delete_in_batches(
            session, File, [File.status == "rejected", File.updated_at < old], dry
        )
        stats.rejected_files, stats.transactions = rows, stats.transactions + txs
    if policy.queue_days > 0 and server_name is None:
        old = now - timedelta(days=policy.queue_days)
        where = [QueueItem.state.in_(FINISHED), QueueItem.updated_at < old]
        rows, txs = _delete_in_batches(session, QueueItem, where, dry)
        stats.queue_items, stats.transactions = rows, stats.transactions + txs
    session.rollback() if dry else session.commit()
    return stats


def _now() -> datetime:
    return datetime.now(UTC)
