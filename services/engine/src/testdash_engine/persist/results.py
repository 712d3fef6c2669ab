"""What both write paths share, and the per-file path used on SQLite.

A changed file replaces its own results; the run's totals move by the file's
delta in the same transaction, so a kill at any point leaves a consistent run.
PostgreSQL batches whole files instead (``persist/batch.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import Update, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from testdash_models.models import File, Result, Run, TestCase
from testdash_models.models.types import utcnow

from testdash_engine.discover import FileStat
from testdash_engine.fingerprint import failure_fingerprint
from testdash_engine.model import (
    CaseResult,
    ParseError,
    ParseIssue,
    Rejection,
)
from testdash_engine.persist.runs import RunLedger, format_notes
from testdash_engine.rows import (
    COUNT_COLUMNS,
    ZONE_COLUMNS,
    FileCounts,
    KnownCases,
    count_cases,
    describe,
    signed,
)

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
    "fingerprint",
)


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file: new, changed, rejected or skipped, and rows written."""

    status: str
    results: int
    rejection: Rejection | None = None


class DatabaseGone(Exception):
    """The connection died under COPY."""


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
    for column, value in zip(ZONE_COLUMNS, counts.zones(), strict=True):
        setattr(row, column, value)
    row.notes = format_notes(counts.issues)
    row.results_digest = signed(counts.digest) if counts.results else None


def old_counts(existing: File | None) -> FileCounts:
    """What a stored file adds to its run now (nothing unless it was accepted)."""
    if existing is None or existing.status != "accepted":
        return FileCounts()
    return FileCounts(**{c: getattr(existing, c) for c in ("results", *COUNT_COLUMNS)})


def status_delta(existing: File | None, status: str) -> tuple[int, int]:
    """How the run's accepted and rejected file counts move when a file becomes STATUS."""
    return status_moves(existing.status if existing is not None else None, status)


def status_moves(was: str | None, status: str) -> tuple[int, int]:
    """:func:`status_delta` from the stored file's status (None: no stored file)."""
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
    offset, assumed, end_offset, end_assumed = new.zones()
    if new.started_at is not None:
        first = new.started_at.astimezone(UTC)  # SQLite stores the wall time as given
        earlier = or_(Run.started_at.is_(None), Run.started_at > first)
        started = values["started_at"] = case((earlier, first), else_=Run.started_at)
        # The start's zone goes with the start: every SET reads the row as it was.
        values["start_utc_offset"] = case((earlier, offset), else_=Run.start_utc_offset)
        values["start_assumed_zone"] = case((earlier, assumed), else_=Run.start_assumed_zone)
    if new.finished_at is not None:
        last = new.finished_at.astimezone(UTC)
        later = or_(Run.finished_at.is_(None), Run.finished_at < last)
        finished = values["finished_at"] = case((later, last), else_=Run.finished_at)
        values["end_utc_offset"] = case((later, end_offset), else_=Run.end_utc_offset)
        values["end_assumed_zone"] = case((later, end_assumed), else_=Run.end_assumed_zone)
    if with_duration:
        values["duration"] = func.greatest(func.extract("epoch", finished - started), 0)
    values["updated_at"] = utcnow()
    return update(Run).where(Run.id == run_id).values(**values)


# run_totals_update(..., with_duration=True) as plain SQL for the batch writer (PostgreSQL):
# compiling that statement per batch cost more CPU than the batch's other statements.
# Every SET reads the row as it was; a start (end) moves with its zone, and only to an
# earlier (later) time.
_EARLIER = "(%(first)s::timestamptz IS NOT NULL AND (started_at IS NULL OR started_at > %(first)s))"
_LATER = "(%(last)s::timestamptz IS NOT NULL AND (finished_at IS NULL OR finished_at < %(last)s))"
_STARTED = f"CASE WHEN {_EARLIER} THEN %(first)s ELSE started_at END"
_FINISHED = f"CASE WHEN {_LATER} THEN %(last)s ELSE finished_at END"
MOVE_TOTALS = f"""
    UPDATE runs SET
        passed = passed + %(passed)s, failed = failed + %(failed)s,
        errors = errors + %(errors)s, skipped = skipped + %(skipped)s, flaky = flaky + %(flaky)s,
        total = total + %(tests)s,
        files_accepted = files_accepted + %(accepted)s,
        files_rejected = files_rejected + %(rejected)s,
        status = CASE WHEN failed + errors + %(failing)s > 0 THEN 'failed'
                      WHEN total + %(tests)s > 0 THEN 'passed'
                      WHEN files_rejected + %(rejected)s > 0 THEN 'rejected'
                      ELSE 'empty' END,
        started_at = {_STARTED},
        start_utc_offset = CASE WHEN {_EARLIER} THEN %(offset)s ELSE start_utc_offset END,
        start_assumed_zone = CASE WHEN {_EARLIER} THEN %(assumed)s ELSE start_assumed_zone END,
        finished_at = {_FINISHED},
        end_utc_offset = CASE WHEN {_LATER} THEN %(end_offset)s ELSE end_utc_offset END,
        end_assumed_zone = CASE WHEN {_LATER} THEN %(end_assumed)s ELSE end_assumed_zone END,
        duration = greatest(extract(epoch FROM {_FINISHED} - {_STARTED}), 0),
        updated_at = %(now)s
    WHERE id = %(run)s
"""


def totals_params(
    run_id: int, old: FileCounts, new: FileCounts, accepted: int, rejected: int
) -> dict[str, Any]:
    """The parameters of MOVE_TOTALS: :func:`run_totals_update` as plain SQL."""
    params: dict[str, Any] = {c: getattr(new, c) - getattr(old, c) for c in COUNT_COLUMNS}
    offset, assumed, end_offset, end_assumed = new.zones()
    params.update(
        run=run_id,
        tests=new.tests - old.tests,
        failing=params["failed"] + params["errors"],
        accepted=accepted,
        rejected=rejected,
        first=None if new.started_at is None else new.started_at.astimezone(UTC),
        last=None if new.finished_at is None else new.finished_at.astimezone(UTC),
        offset=offset,
        assumed=assumed,
        end_offset=end_offset,
        end_assumed=end_assumed,
        now=utcnow(),
    )
    return params


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

    def begin_run(self, run: Run, ledger: RunLedger) -> None:
        """The files added next belong to RUN, whose files so far LEDGER knows."""
        self.run = run
        self.ledger = ledger

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
            row, counts = store_file(
                self.session,
                self.run,
                stat,
                stream,
                existing=existing,
                known=self.known,
                batch_size=self.batch_rows,
            )
            duplicate = self.ledger.duplicate(
                stat.full_name, row.sha256, counts.digest, counts.results
            )
            if duplicate is not None:
                self.session.rollback()
                self.known.rollback()
                return self.reject(stat, existing, duplicate, row.sha256)
            self.ledger.accept(
                stat.full_name,
                row.sha256,
                counts.digest,
                counts.results,
                counts.keys,
                counts.repeats,
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
                "ordinal": (position := next(ordinal)),
                "test_case_id": (key := known.key_for(case_, new_cases)),
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
                "fingerprint": failure_fingerprint(case_.status, case_.type, case_.message),
            }
        )
        counts.note_key(key, case_, position)
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
