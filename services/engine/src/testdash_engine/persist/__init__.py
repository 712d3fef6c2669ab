"""The only engine package that writes to the database."""

from sqlalchemy.orm import Session

from testdash_engine.persist.batch import BatchWriter
from testdash_engine.persist.queue import (
    Claim,
    ServerBusy,
    claim_next,
    enqueue,
    expire_queue,
    finish_job,
    get_server,
    live_items,
    mark_scanned,
    purge_queue,
    server_lock,
    servers_with_work,
    start_job,
    stored_fingerprints,
    upsert_run,
)
from testdash_engine.persist.results import (
    DatabaseGone,
    FileOutcome,
    FileWriter,
    existing_files,
    reject_file,
    store_file,
    touch_file,
)
from testdash_engine.persist.runs import RunLedger, reconcile_run
from testdash_engine.rows import FileCounts, KnownCases

__all__ = [
    "BatchWriter",
    "FileOutcome",
    "FileWriter",
    "writer_for",
    "Claim",
    "DatabaseGone",
    "FileCounts",
    "KnownCases",
    "RunLedger",
    "reconcile_run",
    "ServerBusy",
    "claim_next",
    "enqueue",
    "existing_files",
    "expire_queue",
    "finish_job",
    "mark_scanned",
    "get_server",
    "live_items",
    "purge_queue",
    "reject_file",
    "server_lock",
    "servers_with_work",
    "start_job",
    "store_file",
    "stored_fingerprints",
    "touch_file",
    "upsert_run",
]


def writer_for(
    session: Session, known: KnownCases, *, batch_rows: int, batch_bytes: int
) -> BatchWriter | FileWriter:
    """The write path for this database: batched COPY on PostgreSQL, per-file inserts elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return BatchWriter(session, known, batch_rows=batch_rows, batch_bytes=batch_bytes)
    return FileWriter(session, known, batch_rows=batch_rows)
