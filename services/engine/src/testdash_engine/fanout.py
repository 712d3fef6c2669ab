"""A run's files parsed by the worker processes and queued to the batch writer in order.

The engine process keeps what needs the database (which files changed, file ids,
the test-case catalogue, batches); workers (``worker.py``) do the parsing and the
COPY formatting. At most ``capacity`` files are out at a time, so memory stays
bounded however long the run. A file larger than ``FANOUT_MAX_BYTES``, one that
turns out larger than a batch, and every file after a worker failure are parsed in
the engine process exactly as without workers.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator

from testdash_models.models import File

from testdash_engine.discover import FileStat
from testdash_engine.formats import ReportReader
from testdash_engine.model import ParseContext
from testdash_engine.persist import BatchWriter, FileOutcome
from testdash_engine.persist.batch import Pending
from testdash_engine.worker import Job, ParsePool, WorkerGone

log = logging.getLogger("testdash.engine")

FANOUT_MAX_BYTES = 8 * 1024 * 1024
FANOUT_MIN_FILES = 4  # a run of fewer files is not worth starting the workers for

Done = tuple[FileStat, FileOutcome]


class Fanout:
    """Parse workers feeding one BatchWriter."""

    def __init__(self, workers: int, batch_rows: int, batch_bytes: int) -> None:
        self.pool = ParsePool(workers)
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self.waiting: deque[Pending] = deque()
        self.broken = False

    def add(
        self, writer: BatchWriter, stat: FileStat, existing: File | None, ctx: ParseContext
    ) -> Iterator[Done]:
        """Send a file to a worker; yield the files whose results are in by now."""
        item = writer.reserve(stat, existing)
        job = Job(stat.path, writer.prefix(item), ctx, self.batch_rows, self.batch_bytes)
        try:
            self.pool.submit(job)
        except WorkerGone as exc:
            self._broke(exc)
            yield from self.drain(writer, ctx)
            yield stat, writer.add_reserved(item, ReportReader(stat.path, ctx))
            return
        self.waiting.append(item)
        while len(self.waiting) > self.pool.capacity:
            yield self._collect(writer, ctx)

    def drain(self, writer: BatchWriter, ctx: ParseContext) -> Iterator[Done]:
        """Yield every file still out, in the order they were added."""
        while self.waiting:
            yield self._collect(writer, ctx)

    def close(self) -> None:
        """Stop the workers."""
        self.pool.close()

    def _collect(self, writer: BatchWriter, ctx: ParseContext) -> Done:
        item = self.waiting.popleft()
        if not self.broken:
            try:
                done = self.pool.result()
            except WorkerGone as exc:
                self._broke(exc)
            else:
                if done.fits:
                    return item.stat, writer.add_formatted(item, done)
        # Larger than a batch, or the workers are gone: parse it here (it may stream alone).
        return item.stat, writer.add_reserved(item, ReportReader(item.stat.path, ctx))

    def _broke(self, exc: WorkerGone) -> None:
        log.warning("%s; parsing in the engine process from now on", exc)
        self.broken = True
        self.pool.close()
