"""Servers, runs, the queue and ingest jobs.

On PostgreSQL a queue item is claimed with ``FOR UPDATE SKIP LOCKED`` on a
separate connection whose transaction stays open while the item is worked on,
under a per-server advisory lock: a killed engine drops the connection, the
item is free again and the next engine completes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from testdash_models.models import File, IngestJob, QueueItem, Run, Server
from testdash_models.models.types import utcnow

from testdash_engine.discover import META_FIELDS, RunSpec


def get_server(
    session: Session, name: str, root: str | None = None, timezone: str | None = None
) -> Server:
    """The server named NAME, created on first sight; remembers ROOT and TIMEZONE when given."""
    server = session.scalar(select(Server).where(Server.name == name))
    if server is None:
        server = Server(name=name, root=root, timezone=timezone or "UTC")
        session.add(server)
        session.flush()
    if root is not None:
        server.root = root
    if timezone:
        server.timezone = timezone
    return server


def mark_scanned(session: Session, server: Server) -> None:
    """Remember when the server was last scanned, and commit the scan."""
    server.last_scan_at = utcnow()
    session.commit()


def stored_fingerprints(session: Session, server_id: int) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every stored file of a server, by full name, in one query."""
    rows = session.execute(
        select(File.full_name, File.file_size, File.mtime_ns)
        .join(Run, Run.id == File.run_id)
        .where(Run.server_id == server_id)
    )
    return {name: (size, mtime) for name, size, mtime in rows}


def live_items(session: Session, server: Server) -> dict[str, QueueItem]:
    """The server's pending and running items by run directory, in one query for a scan."""
    rows = session.scalars(
        select(QueueItem).where(
            QueueItem.server_id == server.id, QueueItem.state.in_(("pending", "running"))
        )
    )
    return {item.run_dir: item for item in rows}


def enqueue(
    session: Session,
    server: Server,
    spec: RunSpec,
    *,
    root: str | None,
    ttl: timedelta,
    live_by_run: dict[str, QueueItem],
    source: str = "scan",
) -> bool:
    """Queue a run, or refresh its live item (from LIVE_BY_RUN); True when a new item was made."""
    live = live_by_run.get(spec.run_dir)
    item = live or QueueItem(server_id=server.id, run_dir=spec.run_dir, source=source)
    item.root = root
    item.time_to_live = utcnow() + ttl
    item.started_at = spec.started_at
    item.last_error = spec.problem  # a bad manifest: the ingest records it as a rejected file
    for name in META_FIELDS:
        setattr(item, name, spec.meta.get(name))
    if live is None:
        session.add(item)
        live_by_run[spec.run_dir] = item
    return live is None


def expire_queue(session: Session, now: datetime | None = None) -> int:
    """Mark pending items whose time to live has passed as expired."""
    result = session.execute(
        update(QueueItem)
        .where(QueueItem.state == "pending", QueueItem.time_to_live <= (now or utcnow()))
        .values(state="expired", updated_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_queue(session: Session, ttl_over: timedelta) -> int:
    """The article's clean-up: delete pending items whose time to live is over TTL_OVER away."""
    result = session.execute(
        delete(QueueItem).where(
            QueueItem.state == "pending", QueueItem.time_to_live > utcnow() + ttl_over
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def upsert_run(session: Session, server: Server, item: QueueItem) -> Run:
    """The run for a queue item, created on first ingest; manifest metadata wins over blanks."""
    run = session.scalar(select(Run).where(Run.server_id == server.id, Run.run_dir == item.run_dir))
    if run is None:
        run = Run(server_id=server.id, run_dir=item.run_dir, started_at=item.started_at)
        session.add(run)
    for name in META_FIELDS:
        value = getattr(item, name)
        if value is not None:
            setattr(run, name, value)
    if item.started_at is not None:
        # The manifest's start time is in UTC: whatever zone a report's start had goes with it.
        run.started_at, run.start_utc_offset, run.start_assumed_zone = item.started_at, None, None
    session.flush()
    return run


def advisory_key(server_name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a server."""
    digest = hashlib.blake2b(f"testdash-server:{server_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(slots=True)
class Claim:
    """A queue item held by this engine until ``finish`` or the connection ends."""

    item_id: int
    lock: Connection | None

    def finish(self, session: Session, state: str, error: str | None = None) -> None:
        """Record the item's end state and let go of it."""
        values = {"state": state, "last_error": error, "updated_at": utcnow()}
        stmt = update(QueueItem).where(QueueItem.id == self.item_id)
        attempts = {"attempts": QueueItem.attempts + 1}
        if self.lock is not None:
            self.lock.execute(stmt.values(**values, **attempts))
            self.lock.commit()
        else:
            session.execute(stmt.values(**values, **attempts))
            session.commit()


@contextmanager
def server_lock(session: Session, server_name: str) -> Iterator[Connection | None]:
    """Hold the server's advisory lock on its own connection; None when another engine has it."""
    if session.get_bind().dialect.name != "postgresql":
        yield None
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with engine.connect() as lock:
        got = lock.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(server_name)})
        lock.commit()
        if not got:
            raise ServerBusy(server_name)
        try:
            yield lock
        finally:
            try:
                lock.rollback()
                lock.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(server_name)}
                )
                lock.commit()
            except DBAPIError:
                pass  # the connection is gone, and with it the lock and any claim


class ServerBusy(Exception):
    """Another engine holds this server's lock."""


def claim_next(
    session: Session,
    server_id: int,
    lock: Connection | None,
    held: Collection[int] = (),
    root: str | None = None,
) -> Claim | None:
    """Take the oldest live pending item of a server, skipping items others hold.

    HELD are items this engine worked on whose last batch is still being written; ROOT,
    when given, limits the claim to items scanned below that root (the uploads spool).
    """
    query = (
        select(QueueItem.id)
        .where(
            QueueItem.server_id == server_id,
            QueueItem.state == "pending",
            QueueItem.time_to_live > utcnow(),
            QueueItem.id.not_in(held),
        )
        .order_by(QueueItem.id)
        .limit(1)
    )
    if root is not None:
        query = query.where(QueueItem.root == root)
    if lock is None:
        item_id = session.scalar(query)
        return Claim(item_id, None) if item_id is not None else None
    lock.rollback()
    item_id = lock.scalar(query.with_for_update(skip_locked=True))
    if item_id is None:
        lock.rollback()
        return None
    return Claim(item_id, lock)


def servers_with_work(session: Session, name: str | None = None) -> list[Server]:
    """Servers that have live pending items (only NAME when given)."""
    query = (
        select(Server)
        .join(QueueItem, and_(QueueItem.server_id == Server.id, QueueItem.state == "pending"))
        .group_by(Server.id)
        .order_by(Server.name)
    )
    if name is not None:
        query = query.where(Server.name == name)
    return list(session.scalars(query))


def start_job(session: Session, server: Server | None, host: str) -> IngestJob:
    """An ingest-job row, committed at once so a killed engine still leaves a trace.

    The caller holds the server's lock, so a job of this server still 'running' was
    left by an engine that was killed: it is closed as failed.
    """
    if server is not None:
        session.execute(
            update(IngestJob)
            .where(IngestJob.server_id == server.id, IngestJob.outcome == "running")
            .values(
                outcome="failed", finished_at=utcnow(), error="the engine stopped before finishing"
            )
        )
    job = IngestJob(server_id=server.id if server else None, host=host, outcome="running")
    session.add(job)
    session.commit()
    return job


def finish_job(
    session: Session, job: IngestJob, server: Server, figures: dict[str, int], *, failed: bool
) -> None:
    """Close an ingest job with its figures; the server's last ingest moves with it."""
    for name, value in figures.items():
        setattr(job, name, value)
    job.outcome = "partial" if failed or job.files_rejected else "success"
    job.finished_at = server.last_ingest_at = server.last_success_at = utcnow()
    session.commit()
