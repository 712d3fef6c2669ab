"""Ingest status: servers, the queue, recent jobs and rejected files."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from testdash_models import db
from testdash_models.models import File, IngestJob, QueueItem, Run, Server
from testdash_models.models.ingest import QUEUE_STATES

from testdash_web.paging import Page, decode_cursor, page_of


def queue_counts() -> dict[str, int]:
    """Queue items per state (every state present, zero when empty)."""
    counts = dict.fromkeys(QUEUE_STATES, 0)
    stmt = select(QueueItem.state, func.count(QueueItem.id)).group_by(QueueItem.state)
    counts.update({state: n for state, n in db.session.execute(stmt)})
    return counts


def _paged(
    stmt: Select[*tuple[Any, ...]], id_column: Any, cursor: str | None, limit: int
) -> Page[Any]:
    """Newest first by id, after CURSOR."""
    key = decode_cursor(cursor, (int,))
    if key is not None:
        stmt = stmt.where(id_column < key[0])
    rows = db.session.execute(stmt.order_by(id_column.desc()).limit(limit + 1)).all()
    return page_of(rows, limit, lambda row: (row[0].id,))


def queue_items(state: str | None, cursor: str | None, limit: int) -> Page[Any]:
    """Queue items (with their server), newest first."""
    stmt = select(QueueItem)
    if state:
        stmt = stmt.where(QueueItem.state == state)
    page = _paged(stmt, QueueItem.id, cursor, limit)
    return Page([row[0] for row in page.items], page.next_cursor)


def jobs(cursor: str | None, limit: int) -> Page[Any]:
    """Ingest jobs with their server's name, newest first."""
    stmt = select(IngestJob, Server.name.label("server")).outerjoin(
        Server, Server.id == IngestJob.server_id
    )
    return _paged(stmt, IngestJob.id, cursor, limit)


def rejected_files(cursor: str | None, limit: int) -> Page[Any]:
    """Rejected files with their run and server, newest first."""
    stmt = (
        select(File, Run.server_id, Server.name.label("server"))
        .join(Run, Run.id == File.run_id)
        .join(Server, Server.id == Run.server_id)
        .where(File.status == "rejected")
    )
    return _paged(stmt, File.id, cursor, limit)
