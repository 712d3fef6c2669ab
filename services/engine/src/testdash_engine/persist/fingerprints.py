"""Fingerprints for failures stored before they existed (migration 0005), a batch at a time.

Keyset by result id: each batch reads the next failures with no fingerprint after the
last id done (within a window of ids), hashes them here and writes them in one UPDATE
and one short transaction. Only those rows are locked, only that long; readers never
wait (MVCC). Stopping at any
point loses nothing: a run again (or ``after`` the last id reported) goes on, and a
failure that has a fingerprint is never written again.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, case, func, select, update
from sqlalchemy.orm import Session
from testdash_models.models import Result

from testdash_engine.fingerprint import FAILING, MAX_CHARS, fingerprint

BATCH = 1000
SPAN = 100  # ids looked at per read, in batches: 100,000 by default


@dataclass(slots=True)
class BackfillStats:
    """What one backfill did: failures given a fingerprint, transactions, the last id done."""

    filled: int = 0
    batches: int = 0
    last_id: int = 0


def _missing() -> list[ColumnElement[bool]]:
    return [Result.status.in_(sorted(FAILING)), Result.fingerprint.is_(None)]


def count_missing(session: Session) -> int:
    """Failed and errored results with no fingerprint (one pass over the table)."""
    return int(session.scalar(select(func.count()).select_from(Result).where(*_missing())) or 0)


def backfill(
    session: Session,
    *,
    batch: int = BATCH,
    after: int = 0,
    pause: float = 0.0,
    progress: Callable[[BackfillStats], None] | None = None,
) -> BackfillStats:
    """Fingerprint every failure after result id AFTER that has none; commit per BATCH."""
    stats = BackfillStats(last_id=after)
    top = session.scalar(select(func.max(Result.id))) or 0  # later rows got one at ingest
    while stats.last_id < top:
        # A window of ids bounds each read whatever plan the database picks: the walk
        # reads the table once, not the remaining failures once per batch.
        end = min(stats.last_id + batch * SPAN, top)
        rows = session.execute(
            select(
                Result.id,
                Result.type,
                # The fingerprint reads only the message's head: no megabytes over the wire.
                func.substr(Result.message, 1, MAX_CHARS).label("message"),
            )
            .where(Result.id > stats.last_id, Result.id <= end, *_missing())
            .order_by(Result.id)
            .limit(batch)
        ).all()
        if rows:
            values = {row.id: fingerprint(row.type, row.message) for row in rows}
            done: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(Result)
                # Still missing: an ingest that wrote the row meanwhile already gave it one.
                .where(Result.id.in_(list(values)), Result.fingerprint.is_(None))
                .values(fingerprint=case(values, value=Result.id))
                .execution_options(synchronize_session=False)
            )
            stats.filled += done.rowcount or 0
            stats.batches += 1
        session.commit()  # also ends a read-only window's snapshot
        stats.last_id = rows[-1].id if len(rows) == batch else end
        if rows and progress is not None:
            progress(stats)
        if rows and pause:
            clock.sleep(pause)
    return stats
