"""The PostgreSQL write path: whole files batched into one transaction, one COPY per batch.

A build server's files are mostly small (tens to hundreds of cases), so a
transaction and half a dozen round trips per file would cost more than the rows.
Files are parsed completely into COPY lines first (their ids come from the
sequence up front), then a batch of them is written in one transaction: a batch
holds only complete files, so a kill never leaves half a file. A file larger
than a batch is streamed in its own transaction, COPY chunk by chunk.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg2.extras import execute_values
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from testdash_models.models import File, Run
from testdash_models.models.types import utcnow

from testdash_engine.discover import FileStat
from testdash_engine.model import CaseResult, ParseError, ParseIssue, Rejection
from testdash_engine.persist.results import (
    RESULT_COLUMNS,
    DatabaseGone,
    FileOutcome,
    file_type,
    old_counts,
    status_moves,
    totals_params,
    totals_sql,
)
from testdash_engine.persist.rollups import (
    flaky_config,
    rebuild_days,
    recount_series_of,
    roll_up_settled,
)
from testdash_engine.persist.runs import RunLedger, format_notes, reconcile_run
from testdash_engine.rows import (
    COUNT_COLUMNS,
    ZONE_COLUMNS,
    FileCounts,
    KnownCases,
    copy_text,
    count_cases,
    describe,
    format_line,
    signed,
)
from testdash_engine.worker import Formatted

log = logging.getLogger("testdash.engine")

FILE_COLUMNS = (
    "id",
    "run_id",
    "created",
    "updated_at",
    "run_dir",
    "file_path",
    "file_name",
    "full_name",
    "file_type",
    "file_size",
    "mtime_ns",
    "sha256",
    "format",
    "dialect",
    "status",
    "reason",
    "reason_line",
    "notes",
    "results_digest",
    "results",
    "tests",
    *COUNT_COLUMNS,
    "started_at",
    "finished_at",
    *ZONE_COLUMNS,
)
_UPSERT_FILES = (
    f"INSERT INTO files ({', '.join(FILE_COLUMNS)}) VALUES %s ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in FILE_COLUMNS if c not in ("id", "created"))
)
# New test identities go through COPY into a temporary table, then one INSERT: cheaper in
# Python than execute_values row by row (a 1 GB file of unique tests has 763,000).
_CASES_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS new_test_cases"
    " (id bigint, suite text, classname text, name text) ON COMMIT DELETE ROWS"
)
_COPY_CASES = "COPY new_test_cases (id, suite, classname, name) FROM STDIN"
_UPSERT_CASES = (
    "WITH new AS (DELETE FROM new_test_cases RETURNING id, suite, classname, name)"
    " INSERT INTO test_cases (id, suite, classname, name, created_at)"
    " SELECT id, suite, classname, name, %s FROM new ON CONFLICT (id) DO NOTHING"
)
COPY_CHUNK = 4 << 20
_COPY = f"COPY results ({', '.join(RESULT_COLUMNS)}) FROM STDIN"


@dataclass(slots=True)
class Pending:
    """One parsed file waiting for its batch to be written."""

    file_id: int
    run_id: int
    run_dir: str
    stat: FileStat
    existing: File | None
    # What the stored file adds to its run now and its status, read on the main thread: the
    # writer thread must not touch EXISTING (its session may have committed and expired it).
    old: FileCounts
    was: str | None
    counts: FileCounts = field(default_factory=FileCounts)
    lines: list[str] = field(default_factory=list)
    size: int = 0
    new_cases: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    status: str = "accepted"
    rejection: Rejection | None = None
    sha256: str | None = None
    format: str | None = None
    dialect: str | None = None


class BatchWriter:
    """Writes one run's files on PostgreSQL, many files per transaction.

    Batches are written on a connection of their own by one background thread, so
    PostgreSQL stores batch N while this thread parses batch N+1 (psycopg2 lets go
    of the GIL while it waits). The runs a batch completes are settled (reconciled,
    rolled up) by a second thread on a second connection once that batch has
    committed, while the writer thread COPYs the next one. Any write or settle error
    ends the ingest: the next ``add`` or ``flush`` raises it.
    """

    def __init__(
        self, session: Session, known: KnownCases, *, batch_rows: int, batch_bytes: int
    ) -> None:
        self.session = session
        self.run_id = 0
        self.run_dir = ""
        self.known = known
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self.pending: list[Pending] = []
        self.rows = 0
        self.bytes = 0
        self._ids: Iterator[int] = iter(())
        bind = session.get_bind()
        self.engine = bind if isinstance(bind, Engine) else bind.engine
        self.conn = self.engine.raw_connection()
        cursor = self.conn.cursor()
        cursor.execute(_CASES_TABLE)
        cursor.close()
        self.conn.commit()  # now: a batch that rolls back must not take the table with it
        # Runs whose files are all queued: settled (reconciled, rolled up) on the settler
        # thread right after the batch holding their last file commits, while this thread
        # parses on and the writer thread writes the next batch. Its own session, used on
        # that thread only.
        self.tasks: list[tuple[int, bool]] = []
        self.settler: Session | None = None
        # Per-test roll-ups: (server, day) buckets to rebuild, those rebuilt early (while
        # files still parse: the ingest moved on to other days), and every bucket touched
        # (their series' flaky tests are recounted at the end).
        self.days: set[tuple[int, date]] = set()
        self.early: set[tuple[int, date]] = set()
        self.touched: set[tuple[int, date]] = set()
        self.flaky = flaky_config()  # read here: the writer thread has no app context
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="testdash-writer")
        self.settling = ThreadPoolExecutor(max_workers=1, thread_name_prefix="testdash-settler")
        self.inflight: Future[None] | None = None  # the batch being written
        self.settles: deque[tuple[int, Future[None]]] = deque()  # (batch, its settling)
        self.submitted = 0  # batches handed to the writer thread
        self.committed = 0  # batches known to be committed, and their runs settled

    def mark(self) -> int:
        """The batch number by which everything added so far is committed (and settled)."""
        return self.submitted + (1 if self.pending or self.tasks else 0)

    def settle_after(self, run_id: int, reconcile: bool) -> None:
        """Settle RUN_ID once the batch holding its last file has committed."""
        self.tasks.append((run_id, reconcile))

    def begin_run(self, run: Run, ledger: RunLedger) -> None:
        """The files added next belong to RUN (a batch may hold files of several runs)."""
        self.run_id = run.id
        self.run_dir = run.run_dir
        self.ledger = ledger

    def finish_run(self, run: Run) -> None:
        """Nothing to wait for: the run's duration moves with its totals, in SQL."""

    def add(
        self, stat: FileStat, existing: File | None, stream: Iterable[CaseResult | ParseIssue]
    ) -> FileOutcome:
        """Parse a file into the batch (or stream it alone when it is larger than a batch)."""
        return self.add_reserved(self.reserve(stat, existing), stream)

    def reserve(self, stat: FileStat, existing: File | None) -> Pending:
        """A file's place in the batch, with its id: COPY lines can be made elsewhere."""
        return self._pending(stat, existing)

    @staticmethod
    def prefix(item: Pending) -> str:
        """What every COPY line of ITEM starts with."""
        return f"{item.run_id}\t{item.file_id}\t"

    def add_reserved(self, item: Pending, stream: Iterable[CaseResult | ParseIssue]) -> FileOutcome:
        """Parse a reserved file into the batch, in this process."""
        prefix = self.prefix(item)
        cases = iter(stream)
        try:
            for case in count_cases(cases, item.counts):
                line = format_line(
                    prefix, len(item.lines), case, self.known, item.new_cases, item.counts
                )
                item.lines.append(line)
                item.size += len(line)
                if len(item.lines) >= self.batch_rows or item.size >= self.batch_bytes:
                    self.flush()
                    return self._stream_alone(item, cases, stream)
        except ParseError as exc:
            sha256 = getattr(stream, "sha256", None)
            return self.reject(item.stat, item.existing, exc.rejection, sha256)
        item.sha256, item.format, item.dialect = describe(stream)
        return self._accept(item)

    def add_formatted(self, item: Pending, done: Formatted) -> FileOutcome:
        """Queue a reserved file that a parse worker has turned into COPY lines."""
        if done.rejection is not None:
            return self.reject(item.stat, item.existing, done.rejection, done.sha256)
        known = self.known
        item.lines, item.size, item.counts = [done.data], done.size, done.counts
        item.new_cases = {
            key: identity
            for key, identity in done.cases.items()
            if key not in known.committed and key not in known.pending
        }
        item.sha256, item.format, item.dialect = done.sha256, done.format, done.dialect
        return self._accept(item)

    def _accept(self, item: Pending) -> FileOutcome:
        duplicate = self._duplicate(item)
        if duplicate is not None:
            return self.reject(item.stat, item.existing, duplicate, item.sha256)
        self._queue(item)
        return FileOutcome("changed" if item.existing else "new", item.counts.results)

    def _duplicate(self, item: Pending) -> Rejection | None:
        """Why ITEM repeats an earlier file of its run; else remember it as accepted."""
        counts, name = item.counts, item.stat.full_name
        duplicate = self.ledger.duplicate(name, item.sha256, counts.digest, counts.results)
        if duplicate is None:
            self.ledger.accept(
                name, item.sha256, counts.digest, counts.results, counts.keys, counts.repeats
            )
        return duplicate

    def reject(
        self, stat: FileStat, existing: File | None, rejection: Rejection, sha256: str | None = None
    ) -> FileOutcome:
        """Queue a rejected (or skipped) file row; its old results go with the batch."""
        item = self._pending(stat, existing)
        item.status = "skipped" if rejection.kind == "not-a-report" else "rejected"
        item.rejection, item.sha256 = rejection, sha256
        self._queue(item)
        return FileOutcome(item.status, 0, rejection)

    def _pending(self, stat: FileStat, existing: File | None) -> Pending:
        file_id = existing.id if existing else self._next_id()
        was = existing.status if existing is not None else None
        return Pending(
            file_id, self.run_id, self.run_dir, stat, existing, old_counts(existing), was
        )

    def flush(self) -> None:
        """Write what is pending, wait until every batch is committed and every run rolled up."""
        self._submit()
        self._wait(settled=True)
        if self.touched:
            days, self.days = self.days, set()
            touched, self.touched = self.touched, set()
            self.settling.submit(self._recompute_days, days, touched).result()

    def _recompute_days(self, days: set[tuple[int, date]], touched: set[tuple[int, date]]) -> None:
        if self.settler is None:
            self.settler = Session(self.engine)
        try:
            rebuild_days(self.settler, days)
            recount_series_of(self.settler, touched, self.flaky)
        except BaseException:
            self.settler.rollback()
            raise

    def close(self) -> None:
        """Let the writer thread and its connection go; pending work is dropped.

        Errors of a batch still in flight are not raised here: ``flush`` reports them,
        and when close runs without a flush another exception is already on its way.
        """
        try:
            self._wait(settled=True)
        except BaseException:  # noqa: BLE001
            self.pending = []
        finally:
            self.pool.shutdown(wait=True)
            self.settling.shutdown(wait=True)
            if self.settler is not None:
                self.settler.close()
            if getattr(self.conn.driver_connection, "closed", 0):
                self.conn.invalidate()  # the pool would log a traceback resetting a dead one
            else:
                self.conn.close()

    def _submit(self) -> None:
        if not self.pending and not self.tasks:
            return
        batch, self.pending, self.rows, self.bytes = self.pending, [], 0, 0
        tasks, self.tasks = self.tasks, []
        self._wait()
        write = self.inflight = self.pool.submit(self._write_files, batch) if batch else None
        self.submitted += 1
        settle = self.settling.submit(self._settle, write, tasks)
        self.settles.append((self.submitted, settle))

    def _wait(self, settled: bool = False) -> None:
        """Wait for the batch being written (SETTLED: and for every settling); raise errors.

        ``committed`` moves to the last batch whose write and settling have both ended.
        """
        if self.inflight is not None:
            inflight, self.inflight = self.inflight, None
            inflight.result()
        settles = self.settles
        while settles and (settled or settles[0][1].done()):
            number, settle = settles.popleft()
            settle.result()
            self.committed = number

    def _settle(self, write: Future[None] | None, tasks: list[tuple[int, bool]]) -> None:
        """Settle the runs a batch completes once it has committed (on the settler thread)."""
        if write is not None:
            write.result()  # its error is the writer's to report; nothing to settle then
        if tasks:
            self._settle_runs(tasks)

    def _settle_runs(self, tasks: list[tuple[int, bool]]) -> None:
        if self.settler is None:
            self.settler = Session(self.engine)
        try:
            for run_id, reconcile in tasks:
                tests = reconcile_run(self.settler, run_id) if reconcile else 0
                if tests:
                    log.info("run %s: %d tests ran in several files", run_id, tests)
            # After the recounts: the run rows read the runs' totals.
            buckets = roll_up_settled(self.settler, [run_id for run_id, _ in tasks])
            self.touched |= buckets
            self.days |= buckets
            # Days the ingest has moved past are rebuilt now, while the next files parse,
            # once per ingest: a day seen again later is rebuilt again at the end.
            behind = self.days - buckets - self.early
            if behind:
                rebuild_days(self.settler, behind)
                self.early |= behind
                self.days -= behind
        except BaseException:
            self.settler.rollback()
            raise

    def _write_files(self, batch: list[Pending]) -> None:
        """One transaction for a batch of whole files (runs on the writer thread)."""
        cursor = self.conn.cursor()
        try:
            changed = [p.file_id for p in batch if p.existing is not None]
            if changed:
                cursor.execute("DELETE FROM results WHERE file_id = ANY(%s)", (changed,))
            rows = [self._file_row(p) for p in batch]
            execute_values(cursor, _UPSERT_FILES, rows, page_size=500)
            data = "".join(line for p in batch for line in p.lines).encode("utf-8", "replace")
            # Few large reads: each one takes the GIL back from the parsing thread.
            self._copy(cursor, io.BytesIO(data), COPY_CHUNK)
            self._upsert_cases(cursor, {k: v for p in batch for k, v in p.new_cases.items()})
            self._move_totals(cursor, batch)
            self.conn.commit()
            self.known.commit()
        except BaseException:
            self._rollback()
            raise

    def _stream_alone(
        self,
        item: Pending,
        cases: Iterator[CaseResult | ParseIssue],
        stream: Iterable[CaseResult | ParseIssue],
    ) -> FileOutcome:
        """A file larger than a batch: its own transaction, COPY chunk by chunk as it parses."""
        cursor = self.conn.cursor()
        try:
            if item.existing is not None:
                cursor.execute("DELETE FROM results WHERE file_id = %s", (item.file_id,))
            execute_values(cursor, _UPSERT_FILES, [self._file_row(item)])  # counts come last
            prefix = f"{item.run_id}\t{item.file_id}\t"
            ordinal = itertools.count(len(item.lines))
            self._copy(cursor, io.BytesIO("".join(item.lines).encode("utf-8", "replace")))
            self._upsert_cases(cursor, item.new_cases)
            item.lines, item.new_cases = [], {}
            remaining = count_cases(cases, item.counts)
            while True:
                before, new_cases = item.counts.results, {}  # type: ignore[var-annotated]
                chunk = itertools.islice(remaining, self.batch_rows)
                lines = (
                    format_line(prefix, next(ordinal), c, self.known, new_cases, item.counts)
                    for c in chunk
                )
                self._copy(cursor, _LineSource(lines))
                self._upsert_cases(cursor, new_cases)
                if item.counts.results - before < self.batch_rows:
                    break
            item.sha256, item.format, item.dialect = describe(stream)
            duplicate = self._duplicate(item)
            if duplicate is not None:
                self._rollback()
                return self.reject(item.stat, item.existing, duplicate, item.sha256)
            execute_values(cursor, _UPSERT_FILES, [self._file_row(item)])
            self._move_totals(cursor, [item])
            self.conn.commit()
            self.known.commit()
        except ParseError as exc:
            self._rollback()
            sha256 = getattr(stream, "sha256", None)
            return self.reject(item.stat, item.existing, exc.rejection, sha256)
        except BaseException:
            self._rollback()
            raise
        return FileOutcome("changed" if item.existing else "new", item.counts.results)

    def _rollback(self) -> None:
        self.known.rollback()
        try:
            self.conn.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; the error that follows says so
            pass

    def _queue(self, item: Pending) -> None:
        self.pending.append(item)
        self.rows += item.counts.results + 1
        self.bytes += item.size
        if self.rows >= self.batch_rows or self.bytes >= self.batch_bytes:
            self._submit()  # written while the next files are parsed

    def _file_row(self, item: Pending) -> tuple[Any, ...]:
        stat, counts, now = item.stat, item.counts, utcnow()
        reason = item.rejection.reason[:4000] if item.rejection else None
        line = item.rejection.line if item.rejection else None
        return (
            item.file_id,
            item.run_id,
            now,
            now,
            item.run_dir,
            stat.file_path,
            stat.file_name[:512],
            stat.full_name,
            file_type(stat.file_name),
            stat.size,
            stat.mtime_ns,
            item.sha256,
            item.format,
            item.dialect,
            item.status,
            reason,
            line,
            format_notes(counts.issues),
            signed(counts.digest) if counts.results else None,
            counts.results,
            counts.tests,
            *(getattr(counts, c) for c in COUNT_COLUMNS),
            counts.started_at,
            counts.finished_at,
            *counts.zones(),
        )

    def _move_totals(self, cursor: Any, batch: list[Pending]) -> None:
        """One UPDATE per run in the batch, adding what its files changed."""
        runs: dict[int, tuple[FileCounts, FileCounts, list[int]]] = {}
        for item in batch:
            new, old, files = runs.setdefault(item.run_id, (FileCounts(), FileCounts(), [0, 0]))
            new.merge(item.counts)
            old.merge(item.old)
            accepted, rejected = status_moves(item.was, item.status)
            files[0] += accepted
            files[1] += rejected
        sql, constants = totals_sql()
        for run_id, (new, old, (accepted, rejected)) in runs.items():
            cursor.execute(sql, constants | totals_params(run_id, old, new, accepted, rejected))

    def _upsert_cases(self, cursor: Any, new_cases: dict[int, tuple[str, str, str]]) -> None:
        if new_cases:
            data = "".join(
                f"{key}\t{copy_text(suite)}\t{copy_text(classname)}\t{copy_text(name)}\n"
                for key, (suite, classname, name) in new_cases.items()
            )
            self._copy(cursor, io.BytesIO(data.encode("utf-8", "replace")), COPY_CHUNK, _COPY_CASES)
            cursor.execute(_UPSERT_CASES, (utcnow(),))
            self.known.pending |= new_cases.keys()

    def _copy(self, cursor: Any, source: Any, size: int = 1 << 16, sql: str = _COPY) -> None:
        try:
            cursor.copy_expert(sql, source, size=size)
        except Exception as exc:
            if getattr(source, "error", None) is not None:
                raise source.error from None
            if cursor.connection.closed:
                # psycopg2 raised outside SQLAlchemy: tell the pool this connection is dead.
                self.conn.invalidate(exc)
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise DatabaseGone(reason) from exc
            raise

    def _next_id(self) -> int:
        for file_id in self._ids:
            return file_id
        # Ids from the sequence up front, so COPY lines can name their file while parsing.
        ids = self.session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('files', 'id')) FROM generate_series(1, 256)"
            )
        ).all()
        self._ids = iter(ids)
        return next(self._ids)


class _LineSource:
    """A file-like object COPY reads from, formatting rows only as fast as PostgreSQL takes them."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.buffer = b""
        self.error: BaseException | None = None

    def read(self, size: int = 65536) -> bytes:
        parts = [self.buffer]
        length = len(self.buffer)
        try:
            for line in self.lines:
                data = line.encode("utf-8", "replace")
                parts.append(data)
                length += len(data)
                if length >= size:
                    break
        except BaseException as exc:
            # psycopg2 reports any error raised here as QueryCanceled; keep the real one.
            self.error = exc
            raise
        chunk = b"".join(parts)
        self.buffer = chunk[size:]
        return chunk[:size]

    readline = read
