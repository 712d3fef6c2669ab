"""The only engine package that writes to the database."""

from testdash_engine.persist.queue import (
    Claim,
    ServerBusy,
    claim_next,
    enqueue,
    expire_queue,
    get_server,
    purge_queue,
    queue_counts,
    server_lock,
    servers_with_work,
    start_job,
    stored_fingerprints,
    upsert_run,
)
from testdash_engine.persist.results import (
    FileCounts,
    KnownCases,
    existing_files,
    reject_file,
    store_file,
    touch_file,
)

__all__ = [
    "Claim",
    "FileCounts",
    "KnownCases",
    "ServerBusy",
    "claim_next",
    "enqueue",
    "existing_files",
    "expire_queue",
    "get_server",
    "purge_queue",
    "queue_counts",
    "reject_file",
    "server_lock",
    "servers_with_work",
    "start_job",
    "store_file",
    "stored_fingerprints",
    "touch_file",
    "upsert_run",
]
