"""Scan volumes into the queue, and ingest the queue: the engine's two halves."""

from __future__ import annotations

import functools
import gc
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg2
from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from testdash_models.models import File, QueueItem, Server

from testdash_engine import persist
from testdash_engine.discover import MANIFEST, FileStat, RunSpec, find_runs, list_files
from testdash_engine.fanout import FANOUT_MAX_BYTES, FANOUT_MIN_FILES, Fanout
from testdash_engine.formats import ReportReader
from testdash_engine.model import Limits, ParseContext, Rejection
from testdash_engine.persist.runs import settle_run

log = logging.getLogger("testdash.engine")
# The database cannot be reached: stop, nothing else can be stored. psycopg2's own
# classes appear on the COPY path, outside SQLAlchemy's wrapping.
DB_GONE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    persist.DatabaseGone,
)
Progress = Callable[[str, int], None]


@dataclass(slots=True)
class ScanStats:
    """What one scan saw and queued."""

    runs_seen: int = 0
    runs_queued: int = 0
    runs_unchanged: int = 0
    files_seen: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IngestStats:
    """What one ingest did, added up over servers."""

    runs: int = 0
    files_seen: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_rejected: int = 0
    results_written: int = 0
    expired: int = 0
    failed_items: list[str] = field(default_factory=list)
    busy_servers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was rejected in this ingest."""
        return not self.failed_items and not self.files_rejected


def scan_root(
    session: Session,
    server_name: str,
    root: str,
    *,
    depth: int,
    ttl: timedelta,
    timezone: str | None = None,
) -> ScanStats:
    """Walk ROOT, queue runs that are new or have new or changed files."""
    root = os.path.abspath(root)
    server = persist.get_server(session, server_name, root, timezone)
    stored = persist.stored_fingerprints(session, server.id)
    live = persist.live_items(session, server)
    stats = ScanStats()
    for spec in find_runs(root, depth):
        stats.runs_seen += 1
        listing = list_files(spec, root)
        stats.files_seen += len(listing.files)
        # Problems are stored as rejected rows of size 0 and mtime 0: known ones change nothing.
        problems = [name for name, _ in listing.errors]
        if spec.problem:
            problems.append(f"{spec.run_dir}/{MANIFEST}")
        changed = any(stored.get(name) != (0, 0) for name in problems) or any(
            stored.get(f.full_name) != (f.size, f.mtime_ns) for f in listing.files
        )
        if not changed:
            stats.runs_unchanged += 1
            continue
        if spec.problem:
            stats.problems.append(f"{spec.run_dir}: {spec.problem}")
        persist.enqueue(session, server, spec, root=root, ttl=ttl, live_by_run=live)
        stats.runs_queued += 1
    persist.mark_scanned(session, server)
    return stats


def scan_schedule(
    session: Session, specs: list[RunSpec], server_name: str, *, ttl: timedelta
) -> ScanStats:
    """Queue the runs of a schedule file (the article's ``queue_file.json``)."""
    server = persist.get_server(session, server_name)
    live = persist.live_items(session, server)
    for spec in specs:
        persist.enqueue(
            session, server, spec, root=None, ttl=ttl, live_by_run=live, source="schedule"
        )
    persist.mark_scanned(session, server)
    return ScanStats(runs_seen=len(specs), runs_queued=len(specs))


Writer = persist.BatchWriter | persist.FileWriter
JOB_FIGURES = (
    "files_seen",
    "files_new",
    "files_changed",
    "files_unchanged",
    "files_rejected",
    "results_written",
    "runs",
)


class Ingestor:
    """Works through the queue, one server at a time; every file is written whole or not at all."""

    def __init__(
        self,
        session: Session,
        *,
        limits: Limits,
        batch_size: int,
        default_tz: str,
        progress: Progress | None = None,
        batch_bytes: int = 32 * 1024 * 1024,
        workers: int = 0,
    ) -> None:
        self.session = session
        self.workers = workers
        self.fanout: Fanout | None = None
        self.root: str | None = None
        self.limits = limits
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.default_tz = default_tz
        self.progress = progress
        self.known = persist.KnownCases()
        self.stats = IngestStats()

    def run(self, server_name: str | None = None, root: str | None = None) -> IngestStats:
        """Expire old items, then ingest every server with work (only SERVER_NAME if given).

        ROOT limits the work to items scanned below it: the uploads command ingests its
        spool while the server's own engine may be queueing runs of the real volume.
        """
        self.root = root
        freeze_startup()
        self.stats.expired = persist.expire_queue(self.session)
        self.session.commit()
        try:
            for server in persist.servers_with_work(self.session, server_name):
                try:
                    with persist.server_lock(self.session, server.name) as lock:
                        self._server(server, lock)
                except persist.ServerBusy:
                    log.info("server %s is being ingested by another engine; skipped", server.name)
                    self.stats.busy_servers.append(server.name)
        finally:
            if self.fanout is not None:
                self.fanout.close()
        return self.stats

    def _server(self, server: Server, lock: Connection | None) -> None:
        job = persist.start_job(self.session, server, socket.gethostname())
        before = {name: getattr(self.stats, name) for name in JOB_FIGURES}
        failures_before = len(self.stats.failed_items)
        ctx = ParseContext(limits=self.limits, default_tz=zone(server.timezone or self.default_tz))
        writer = persist.writer_for(
            self.session, self.known, batch_rows=self.batch_size, batch_bytes=self.batch_bytes
        )
        waiting: list[Waiting] = []
        try:
            self._claim_items(server, lock, ctx, writer, waiting)
            writer.flush()
            self._settle(waiting, writer.committed)
        finally:
            writer.close()
        figures = {name: getattr(self.stats, name) - before[name] for name in JOB_FIGURES}
        figures["runs_ingested"] = figures.pop("runs")
        failed = len(self.stats.failed_items) > failures_before
        persist.finish_job(self.session, job, server, figures, failed=failed)

    def _claim_items(
        self,
        server: Server,
        lock: Connection | None,
        ctx: ParseContext,
        writer: Writer,
        waiting: list[Waiting],
    ) -> None:
        """Work through the server's items; the next run is read while a batch is written.

        An item is marked done only once the batch holding its last file has committed
        (WAITING holds the others): a killed engine leaves it pending for the next one.
        """
        while True:
            held = [wait.claim.item_id for wait in waiting]
            claim = persist.claim_next(self.session, server.id, lock, held, self.root)
            if claim is None:
                break
            item = self.session.get(QueueItem, claim.item_id)
            assert item is not None
            try:
                ledger = self._item(server, item, ctx, writer)
            except DB_GONE:
                raise
            except Exception as exc:
                # One bad run must not stop the others; the item keeps the reason.
                self.session.rollback()
                self.known.rollback()
                if not isinstance(exc, (OSError, ItemError)):
                    log.exception("unexpected error ingesting %s:%s", server.name, item.run_dir)
                self.stats.failed_items.append(f"{server.name}:{item.run_dir}: {exc}")
                claim.finish(self.session, "failed", f"{type(exc).__name__}: {exc}"[:4000])
                continue
            if isinstance(writer, persist.BatchWriter):  # settled on the writer thread
                writer.settle_after(ledger.run_id, ledger.needs_reconcile)
                waiting.append(Waiting(claim, writer.mark()))
            else:
                waiting.append(Waiting(claim, writer.mark(), ledger.run_id, ledger.needs_reconcile))
            self._settle(waiting, writer.committed)

    def _settle(self, waiting: list[Waiting], committed: int) -> None:
        """Mark done the items whose files are all committed (after seeing their run whole)."""
        while waiting and waiting[0].batch <= committed:
            wait = waiting.pop(0)
            if wait.run_id is not None:  # SQLite: settled here, once its files are stored
                tests = settle_run(self.session, wait.run_id, wait.reconcile)
                if tests:
                    log.info("run %s: %d tests ran in several files", wait.run_id, tests)
            wait.claim.finish(self.session, "done")
            self.stats.runs += 1

    def _item(
        self, server: Server, item: QueueItem, ctx: ParseContext, writer: Writer
    ) -> persist.RunLedger:
        run = persist.upsert_run(self.session, server, item)
        # Committed without expiring: ITEM and RUN hold what was just read and written, and
        # reloading both (two round trips per run, to a PostgreSQL busy with COPY) is waste.
        self.session.expire_on_commit = False
        try:
            self.session.commit()
        finally:
            self.session.expire_on_commit = True
        path = os.path.join(item.root, item.run_dir) if item.root else item.run_dir
        if not os.path.isdir(path):
            raise ItemError(f"run directory {path} is gone or not a directory")
        listing = list_files(RunSpec(item.run_dir, path), item.root)
        stored = persist.existing_files(self.session, run.id)
        ledger = persist.RunLedger.start(run.id, stored)
        writer.begin_run(run, ledger)
        problems = list(listing.errors)
        if item.last_error and item.last_error.startswith(MANIFEST):
            problems.append((f"{item.run_dir}/{MANIFEST}", item.last_error))
        for name, reason in problems:
            stat = FileStat(
                os.path.join(path, name),
                name,
                os.path.dirname(name),
                os.path.basename(name),
                0,
                0,
            )
            self._count(writer, stat, stored.get(name), Rejection("unreadable", reason))
        fanout = self._fanout(writer, len(listing.files))
        for stat in listing.files:
            self.stats.files_seen += 1
            existing = stored.get(stat.full_name)
            if self._unchanged(writer, stat, existing):
                self._done(stat, 0)
            elif fanout is not None and stat.size <= FANOUT_MAX_BYTES:
                assert isinstance(writer, persist.BatchWriter)
                for done_stat, outcome in fanout.add(writer, stat, existing, ctx):
                    self._done(done_stat, self._tally(done_stat, outcome))
            else:
                self._drain(fanout, writer, ctx)
                outcome = writer.add(stat, existing, ReportReader(stat.path, ctx))
                self._done(stat, self._tally(stat, outcome))
        self._drain(fanout, writer, ctx)
        writer.finish_run(run)
        return ledger

    def _fanout(self, writer: Writer, files: int) -> Fanout | None:
        """The parse workers, started for the first run worth them (PostgreSQL only)."""
        if self.workers <= 0 or not isinstance(writer, persist.BatchWriter):
            return None
        if self.fanout is None and files >= FANOUT_MIN_FILES:
            self.fanout = Fanout(self.workers, self.batch_size, self.batch_bytes)
        return self.fanout if self.fanout is not None and not self.fanout.broken else None

    def _drain(self, fanout: Fanout | None, writer: Writer, ctx: ParseContext) -> None:
        if fanout is not None:
            assert isinstance(writer, persist.BatchWriter)
            for stat, outcome in fanout.drain(writer, ctx):
                self._done(stat, self._tally(stat, outcome))

    def _done(self, stat: FileStat, written: int) -> None:
        if self.progress:
            self.progress(stat.full_name, written)

    def _unchanged(self, writer: Writer, stat: FileStat, existing: File | None) -> bool:
        """True when the stored file is current (or its re-read failed and is recorded)."""
        if existing is None:
            return False
        if (existing.file_size, existing.mtime_ns) == (stat.size, stat.mtime_ns):
            self.stats.files_unchanged += 1
            return True
        if not existing.sha256:
            return False
        try:
            digest = sha256_file(stat.path)
        except OSError as exc:
            self._count(writer, stat, existing, Rejection("unreadable", _os_reason(exc)))
            return True
        if digest != existing.sha256:
            return False
        persist.touch_file(self.session, existing, stat)
        self.session.commit()
        self.stats.files_unchanged += 1
        return True

    def _count(
        self,
        writer: Writer,
        stat: FileStat,
        existing: File | None,
        rejection: Rejection,
    ) -> int:
        """Record a file that could not be read, unless it was recorded so already."""
        unchanged = (
            existing is not None
            and existing.status != "accepted"
            and (
                existing.reason == rejection.reason[:4000]
                and (existing.file_size, existing.mtime_ns) == (stat.size, stat.mtime_ns)
            )
        )
        if unchanged:
            return 0
        return self._tally(stat, writer.reject(stat, existing, rejection))

    def _tally(self, stat: FileStat, outcome: persist.FileOutcome) -> int:
        if outcome.rejection is not None:
            if outcome.status == "rejected":
                self.stats.files_rejected += 1
            log.warning("%s %s: %s", outcome.status, stat.full_name, outcome.rejection)
            return 0
        self.stats.results_written += outcome.results
        if outcome.status == "new":
            self.stats.files_new += 1
        else:
            self.stats.files_changed += 1
        return outcome.results


@dataclass(slots=True)
class Waiting:
    """A claimed item whose files wait for batch BATCH to commit.

    RUN_ID is set when the run is settled here (SQLite); the batch writer settles its own.
    """

    claim: persist.Claim
    batch: int
    run_id: int | None = None
    reconcile: bool = False


class ItemError(Exception):
    """A queue item that cannot be worked on (its directory is gone)."""


@functools.cache  # once per process
def freeze_startup() -> None:
    """Hide what start-up made (modules, the app: some 80,000 objects) from the collector.

    They live as long as the process anyway; the collections that results trigger then
    skip them, and so does the one at exit (0.15-0.2 s of every ``run`` here before).
    """
    gc.freeze()


def sha256_file(path: str) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def zone(name: str) -> ZoneInfo:
    """The named time zone; an unknown name gives UTC, with a warning."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; using UTC", name)
        return ZoneInfo("UTC")


def _os_reason(exc: OSError) -> str:
    return f"cannot read: {exc.strerror or exc}"
