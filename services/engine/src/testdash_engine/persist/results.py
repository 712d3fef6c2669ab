"""What both write paths share, and the per-file path used on SQLite.

A changed file replaces its own results; the run's totals move by the file's
delta in the same transaction, so a kill at any point leaves a consistent run.
PostgreSQL batches whole files instead (``persist/batch.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, case, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from testdash_models.models import File, Result, Run, TestCase
from testdash_models.models.types import utcnow

from testdash_engine.discover import FileStat
from testdash_engine.model import (
    CaseResult,
    ParseError,
    ParseIssue,
    Rejection,
    test_case_key,
)

COUNT_COLUMNS = ("passed", "failed", "errors", "skipped", "flaky")
RESULT_COLUMNS = (
    "run_id",
    "file_id",
    "test_case_id",
    "ordinal",
    "status",
    "attempt",
    "final",
    "flaky",
    "duration",
    "started_at",
    "message",
    "type",
    "trace",
    "stdout",
    "stderr",
    "truncated",
)


@dataclass(slots=True)
class FileCounts:
    """What one stored file adds to its run."""

    results: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    issues: list[ParseIssue] = field(default_factory=list)

    @property
    def tests(self) -> int:
        """Tests counted once each (final attempts)."""
        return self.passed + self.failed + self.errors + self.skipped

    def merge(self, other: FileCounts) -> None:
        """Add another file's counts (for a batch of files)."""
        self.results += other.results
        for column in COUNT_COLUMNS:
            setattr(self, column, getattr(self, column) + getattr(other, column))
        for when in (other.started_at, other.finished_at):
            if when is None:
                continue
            if self.started_at is None or when < self.started_at:
                self.started_at = when
            if self.finished_at is None or when > self.finished_at:
                self.finished_at = when

    def add(self, case: CaseResult) -> None:
        """Count one result row."""
        self.results += 1
        if case.final:
            column = "errors" if case.status == "error" else case.status
            setattr(self, column, getattr(self, column) + 1)
            if case.flaky:
                self.flaky += 1
        if case.started_at is not None:
            end = case.started_at + timedelta(seconds=case.duration or 0.0)
            if self.started_at is None or case.started_at < self.started_at:
                self.started_at = case.started_at
            if self.finished_at is None or end > self.finished_at:
                self.finished_at = end


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file: new, changed, rejected or skipped, and rows written."""

    status: str
    results: int
    rejection: Rejection | None = None


class DatabaseGone(Exception):
    """The connection died under COPY."""


# Memory bounds for a 1 GB file of unique test names: the identity cache holds three
# strings per entry (~30 MB at 100,000), the committed-key set ~60 MB at 1,000,000.
KEY_CACHE = 100_000
KNOWN_CACHE = 1_000_000


class KnownCases:
    """Test-case keys this process has seen committed, so the catalogue is not re-sent."""

    def __init__(self) -> None:
        self.committed: set[int] = set()
        self.pending: set[int] = set()
        self.keys: dict[tuple[str, str, str], int] = {}

    def key(self, suite: str, classname: str, name: str) -> int:
        """The test-case key, hashed once per identity: identities repeat run after run."""
        identity = (suite, classname, name)
        try:
            return self.keys[identity]
        except KeyError:
            if len(self.keys) >= KEY_CACHE:  # bounded: a huge catalogue just hashes again
                self.keys.clear()
            key = self.keys[identity] = test_case_key(suite, classname, name)
            return key

    def key_for(self, case: CaseResult, new_cases: dict[int, tuple[str, str, str]]) -> int:
        """The case's test-case key; an identity not yet in the catalogue goes to NEW_CASES."""
        key = self.key(case.suite, case.classname, case.name)
        if key not in self.committed and key not in self.pending:
            new_cases[key] = (case.suite, case.classname, case.name)
        return key

    def commit(self) -> None:
        """The transaction committed: its keys are now known to exist."""
        if len(self.committed) >= KNOWN_CACHE:  # bounded: forgetting only costs an upsert
            self.committed.clear()
        self.committed |= self.pending
        self.pending.clear()

    def rollback(self) -> None:
        """The transaction rolled back: forget its keys."""
        self.pending.clear()


def store_file(
    session: Session,
    run: Run,
    stat: FileStat,
    stream: Iterable[CaseResult | ParseIssue],
    *,
    existing: File | None,
    known: KnownCases,
    batch_size: int,
) -> tuple[File, FileCounts]:
    """Store the results of one file in the current transaction; the caller commits.

    STREAM is read to its end here; when it is a ReportReader its fingerprint and
    detected format are recorded on the file row.
    """
    row = _file_row(session, run, stat, existing)
    old = old_counts(existing)
    if existing is not None:
        session.execute(delete(Result).where(Result.file_id == row.id))
    counts = FileCounts()
    cases = count_cases(stream, counts)
    ordinal = itertools.count()
    while True:
        before = counts.results
        new_cases = _insert_batch(
            session, run.id, row.id, itertools.islice(cases, batch_size), ordinal, counts, known
        )
        _upsert_test_cases(session, new_cases)
        if counts.results - before < batch_size:
            break
    row.status = "accepted"
    row.reason = row.reason_line = None
    row.sha256, row.format, row.dialect = describe(stream)
    _apply_counts(row, counts)
    session.execute(run_totals_update(run.id, old, counts, *status_delta(existing, "accepted")))
    return row, counts


def reject_file(
    session: Session,
    run: Run,
    stat: FileStat,
    rejection: Rejection,
    *,
    existing: File | None,
    sha256: str | None = None,
    format: str | None = None,
) -> File:
    """Record a file as rejected (or skipped, when it is no test report) with its reason."""
    row = _file_row(session, run, stat, existing)
    old = old_counts(existing)
    if existing is not None:
        session.execute(delete(Result).where(Result.file_id == row.id))
    row.status = "skipped" if rejection.kind == "not-a-report" else "rejected"
    row.reason = rejection.reason[:4000]
    row.reason_line = rejection.line
    row.sha256 = sha256
    row.format = format
    _apply_counts(row, FileCounts())
    session.execute(
        run_totals_update(run.id, old, FileCounts(), *status_delta(existing, row.status))
    )
    return row


def touch_file(session: Session, existing: File, stat: FileStat) -> None:
    """Same content, new mtime: remember the mtime so the next scan skips it cheaply."""
    existing.mtime_ns = stat.mtime_ns
    existing.file_size = stat.size


def _file_row(session: Session, run: Run, stat: FileStat, existing: File | None) -> File:
    row = existing or File(run_id=run.id, run_dir=run.run_dir, full_name=stat.full_name)
    row.file_path = stat.file_path
    row.file_name = stat.file_name[:512]
    row.file_type = file_type(stat.file_name)
    row.file_size = stat.size
    row.mtime_ns = stat.mtime_ns
    if existing is None:
        row.status = "accepted"
        session.add(row)
        session.flush()
    return row


def file_type(name: str) -> str:
    """The article's file_type: the extension, without the dot."""
    return (name.rsplit(".", 1)[-1] if "." in name else "")[:32]


def _apply_counts(row: File, counts: FileCounts) -> None:
    row.results = counts.results
    row.tests = counts.tests
    for column in COUNT_COLUMNS:
        setattr(row, column, getattr(counts, column))
    row.started_at = counts.started_at
    row.finished_at = counts.finished_at


def old_counts(existing: File | None) -> FileCounts:
    """What a stored file adds to its run now (nothing unless it was accepted)."""
    if existing is None or existing.status != "accepted":
        return FileCounts()
    return FileCounts(**{c: getattr(existing, c) for c in ("results", *COUNT_COLUMNS)})


def status_delta(existing: File | None, status: str) -> tuple[int, int]:
    """How the run's accepted and rejected file counts move when a file becomes STATUS."""
    was = existing.status if existing is not None else None
    return (
        (status == "accepted") - (was == "accepted"),
        (status == "rejected") - (was == "rejected"),
    )


def run_totals_update(
    run_id: int,
    old: FileCounts,
    new: FileCounts,
    accepted: int,
    rejected: int,
    *,
    with_duration: bool = False,
) -> Update:
    """One UPDATE moving a run's totals by a delta, its status computed from the new values.

    In SQL rather than Python, so files written by other transactions add up. WITH_DURATION
    (PostgreSQL) sets the duration in the same statement; SQLite's FileWriter sets it once
    the run is done.
    """
    delta = {c: getattr(new, c) - getattr(old, c) for c in COUNT_COLUMNS}
    values: dict[str, Any] = {c: getattr(Run, c) + d for c, d in delta.items()}
    values["total"] = Run.total + (new.tests - old.tests)
    values["files_accepted"] = Run.files_accepted + accepted
    values["files_rejected"] = Run.files_rejected + rejected
    values["status"] = case(
        (Run.failed + Run.errors + (delta["failed"] + delta["errors"]) > 0, "failed"),
        (Run.total + (new.tests - old.tests) > 0, "passed"),
        (Run.files_rejected + rejected > 0, "rejected"),
        else_="empty",
    )
    started: Any = Run.started_at
    finished: Any = Run.finished_at
    if new.started_at is not None:
        started = values["started_at"] = case(
            (Run.started_at.is_(None), new.started_at),
            (Run.started_at > new.started_at, new.started_at),
            else_=Run.started_at,
        )
    if new.finished_at is not None:
        finished = values["finished_at"] = case(
            (Run.finished_at.is_(None), new.finished_at),
            (Run.finished_at < new.finished_at, new.finished_at),
            else_=Run.finished_at,
        )
    if with_duration:
        values["duration"] = func.greatest(func.extract("epoch", finished - started), 0)
    values["updated_at"] = utcnow()
    return update(Run).where(Run.id == run_id).values(**values)


class FileWriter:
    """The SQLite write path: one transaction per file, plain inserts."""

    committed = 0  # every file is committed when add returns

    def __init__(self, session: Session, known: KnownCases, *, batch_rows: int) -> None:
        self.session = session
        self.known = known
        self.batch_rows = batch_rows

    def mark(self) -> int:
        """Everything added so far is committed already."""
        return 0

    def begin_run(self, run: Run) -> None:
        """The files added next belong to RUN."""
        self.run = run

    def finish_run(self, run: Run) -> None:
        """Every file is committed: set the run's duration from its start and end."""
        self.session.refresh(run)
        if run.started_at and run.finished_at:
            run.duration = max((run.finished_at - run.started_at).total_seconds(), 0.0)
        self.session.commit()

    def add(
        self, stat: FileStat, existing: File | None, stream: Iterable[CaseResult | ParseIssue]
    ) -> FileOutcome:
        """Store a file in its own transaction, or record why it was rejected."""
        try:
            _, counts = store_file(
                self.session,
                self.run,
                stat,
                stream,
                existing=existing,
                known=self.known,
                batch_size=self.batch_rows,
            )
            self.session.commit()
            self.known.commit()
        except ParseError as exc:
            self.session.rollback()
            self.known.rollback()
            return self.reject(stat, existing, exc.rejection, getattr(stream, "sha256", None))
        return FileOutcome("changed" if existing else "new", counts.results)

    def reject(
        self, stat: FileStat, existing: File | None, rejection: Rejection, sha256: str | None = None
    ) -> FileOutcome:
        """Record a rejected or skipped file in its own transaction."""
        row = reject_file(self.session, self.run, stat, rejection, existing=existing, sha256=sha256)
        self.session.commit()
        return FileOutcome(row.status, 0, rejection)

    def flush(self) -> None:
        """Nothing waits: every file was committed on its own."""

    def close(self) -> None:
        """Nothing to let go of."""


def count_cases(
    stream: Iterable[CaseResult | ParseIssue], counts: FileCounts
) -> Iterator[CaseResult]:
    """The results of a stream, counted as they pass; its notes are kept on the counts."""
    for item in stream:
        if isinstance(item, ParseIssue):
            counts.issues.append(item)
        else:
            counts.add(item)
            yield item


def describe(stream: object) -> tuple[str | None, str | None, str | None]:
    """SHA-256, format and dialect of a stream that was a ReportReader, read to its end."""
    detection = getattr(stream, "detection", None)
    return (
        getattr(stream, "sha256", None),
        detection.format if detection else None,
        detection.dialect if detection else None,
    )


def _upsert_test_cases(session: Session, new_cases: dict[int, tuple[str, str, str]]) -> None:
    if not new_cases:
        return
    rows = [{"id": k, "suite": s, "classname": c, "name": n} for k, (s, c, n) in new_cases.items()]
    session.execute(sqlite_insert(TestCase).on_conflict_do_nothing(index_elements=["id"]), rows)


def _insert_batch(
    session: Session,
    run_id: int,
    file_id: int,
    batch: Iterable[CaseResult],
    ordinal: Iterator[int],
    counts: FileCounts,
    known: KnownCases,
) -> dict[int, tuple[str, str, str]]:
    """SQLite: executemany of plain inserts."""
    new_cases: dict[int, tuple[str, str, str]] = {}
    rows = []
    for case_ in batch:
        rows.append(
            {
                "run_id": run_id,
                "file_id": file_id,
                "ordinal": next(ordinal),
                "test_case_id": known.key_for(case_, new_cases),
                "status": case_.status,
                "attempt": case_.attempt,
                "final": case_.final,
                "flaky": case_.flaky,
                "duration": case_.duration,
                "started_at": case_.started_at,
                "message": _clean(case_.message),
                "type": _clean(case_.type, 512),
                "trace": _clean(case_.trace),
                "stdout": _clean(case_.stdout),
                "stderr": _clean(case_.stderr),
                "truncated": case_.truncated,
            }
        )
    if rows:
        session.execute(insert(Result), rows)
    known.pending |= new_cases.keys()
    return new_cases


def _clean(text: str | None, cap: int | None = None) -> str | None:
    """Databases refuse NUL in text; a type name longer than its column is cut."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text[:cap] if cap else text


def existing_files(session: Session, run_id: int) -> dict[str, File]:
    """The stored files of a run by full name, for the unchanged-file check."""
    rows = session.scalars(select(File).where(File.run_id == run_id))
    return {row.full_name: row for row in rows}
