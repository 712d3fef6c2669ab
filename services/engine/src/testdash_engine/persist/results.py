"""What both write paths share, and the per-file path used on SQLite.

A changed file replaces its own results; the run's totals move by the file's
delta in the same transaction, so a kill at any point leaves a consistent run.
PostgreSQL batches whole files instead (``persist/batch.py``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import psycopg2
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
    move_run_totals(session, run.id, old, counts, *status_delta(existing, "accepted"))
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
    move_run_totals(session, run.id, old, FileCounts(), *status_delta(existing, row.status))
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


def move_run_totals(
    session: Session, run_id: int, old: FileCounts, new: FileCounts, accepted: int, rejected: int
) -> None:
    """Move a run's totals by a file's delta in one UPDATE, its status from the new values.

    In SQL rather than Python, so files written by other transactions add up. The duration
    is set once the run is done (the batch writer sets it with the totals: ``totals_sql``).
    """
    params = totals_params(run_id, old, new, accepted, rejected)
    session.execute(totals_statement(with_duration=False), params)


@functools.cache
def totals_statement(with_duration: bool) -> Update:
    """The UPDATE of a run's totals, every value a bind parameter (built once).

    Its parameters are :func:`totals_params`; the batch writer runs it compiled once
    (:func:`totals_sql`) on its raw connection.
    """
    moved = {c: bindparam(c, type_=Integer) for c in (*COUNT_COLUMNS, "tests", "failing")}
    accepted, rejected = bindparam("accepted", type_=Integer), bindparam("rejected", type_=Integer)
    first = bindparam("first", type_=Run.started_at.type)
    last = bindparam("last", type_=Run.finished_at.type)
    values: dict[str, Any] = {c: getattr(Run, c) + moved[c] for c in COUNT_COLUMNS}
    values["total"] = Run.total + moved["tests"]
    values["files_accepted"] = Run.files_accepted + accepted
    values["files_rejected"] = Run.files_rejected + rejected
    values["status"] = case(
        (Run.failed + Run.errors + moved["failing"] > 0, "failed"),
        (Run.total + moved["tests"] > 0, "passed"),
        (Run.files_rejected + rejected > 0, "rejected"),
        else_="empty",
    )
    # A start (end) moves only to an earlier (later) time, and its zone goes with it: every
    # SET reads the row as it was.
    earlier = and_(first.is_not(None), or_(Run.started_at.is_(None), Run.started_at > first))
    later = and_(last.is_not(None), or_(Run.finished_at.is_(None), Run.finished_at < last))
    started = values["started_at"] = case((earlier, first), else_=Run.started_at)
    values["start_utc_offset"] = case(
        (earlier, bindparam("offset", type_=Integer)), else_=Run.start_utc_offset
    )
    values["start_assumed_zone"] = case(
        (earlier, bindparam("assumed", type_=String)), else_=Run.start_assumed_zone
    )
    finished = values["finished_at"] = case((later, last), else_=Run.finished_at)
    values["end_utc_offset"] = case(
        (later, bindparam("end_offset", type_=Integer)), else_=Run.end_utc_offset
    )
    values["end_assumed_zone"] = case(
        (later, bindparam("end_assumed", type_=String)), else_=Run.end_assumed_zone
    )
    if with_duration:
        values["duration"] = func.greatest(func.extract("epoch", finished - started), 0)
    values["updated_at"] = bindparam("now", type_=Run.updated_at.type)
    return update(Run).where(Run.id == bindparam("run", type_=Integer)).values(**values)


@functools.cache
def totals_sql() -> tuple[str, dict[str, Any]]:
    """:func:`totals_statement` with the duration, compiled once for psycopg2; its constants."""
    dialect: Any = psycopg2.dialect
    compiled = totals_statement(with_duration=True).compile(dialect=dialect())
    return str(compiled), {k: v for k, v in compiled.params.items() if v is not None}


def totals_params(
    run_id: int, old: FileCounts, new: FileCounts, accepted: int, rejected: int
) -> dict[str, Any]:
    """The parameters of :func:`totals_statement`: how the run's totals move, in UTC."""
    params: dict[str, Any] = {c: getattr(new, c) - getattr(old, c) for c in COUNT_COLUMNS}
    offset, assumed, end_offset, end_assumed = new.zones()
    params.update(
        run=run_id,
        tests=new.tests - old.tests,
        failing=params["failed"] + params["errors"],
        accepted=accepted,
        rejected=rejected,
        # SQLite stores the wall time as given: UTC here, whatever the bind processing.
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
