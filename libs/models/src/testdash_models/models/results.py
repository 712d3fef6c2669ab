"""What the tests did: the test-case catalogue and one row per execution."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from testdash_models.extensions import db
from testdash_models.models.types import BigId, UTCDateTime, utcnow

RESULT_STATUSES = ("passed", "failed", "error", "skipped")


class TestCase(db.Model):  # type: ignore[name-defined,misc]
    """A test's stable identity; the key is a 64-bit hash of (suite, classname, name)."""

    __tablename__ = "test_cases"
    __table_args__ = (
        # GIN trigram on PostgreSQL (substring search on millions); plain on SQLite.
        Index(
            "ix_test_cases_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    suite: Mapped[str] = mapped_column(Text)
    classname: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<TestCase {self.classname}::{self.name}>"


class Result(db.Model):  # type: ignore[name-defined,misc]
    """One execution (attempt) of a test case in a run, from one file.

    No foreign keys: this is the table that grows to millions of rows, and COPY
    with two foreign-key triggers per row runs at half speed (measured here: 100,000
    rows in 2.0 s with them, 0.95 s without). The engine writes results only with
    their file row in the same transaction and deletes them explicitly.
    """

    __tablename__ = "results"
    __table_args__ = (
        CheckConstraint("status IN ('passed', 'failed', 'error', 'skipped')", name="status"),
        Index("ix_results_test_case_run", "test_case_id", "run_id"),
        Index("ix_results_run_status", "run_id", "status"),
        Index("ix_results_file", "file_id"),
        # Failure clusters: only failures carry a fingerprint, so the index stays small.
        Index(
            "ix_results_fingerprint",
            "fingerprint",
            "run_id",
            postgresql_where=text("fingerprint IS NOT NULL"),
            sqlite_where=text("fingerprint IS NOT NULL"),
        ),
        # The clusters of a period: a run's failures read from the index alone (PostgreSQL).
        Index(
            "ix_results_run_fingerprint",
            "run_id",
            postgresql_include=["fingerprint", "test_case_id", "id"],
            postgresql_where=text("fingerprint IS NOT NULL"),
            sqlite_where=text("fingerprint IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigId)
    file_id: Mapped[int] = mapped_column(BigId)
    # A deterministic hash of the identity; the catalogue row is upserted in the same transaction.
    test_case_id: Mapped[int] = mapped_column(BigInteger)
    ordinal: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8))
    attempt: Mapped[int] = mapped_column(SmallInteger, default=1)
    final: Mapped[bool] = mapped_column(Boolean, default=True)
    flaky: Mapped[bool] = mapped_column(Boolean, default=False)
    duration: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(512))
    trace: Mapped[str | None] = mapped_column(Text)
    stdout: Mapped[str | None] = mapped_column(Text)
    stderr: Mapped[str | None] = mapped_column(Text)
    truncated: Mapped[int] = mapped_column(Integer, default=0)
    # Failed and error results: a hash of the normalised message and type (failure clusters).
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"<Result {self.test_case_id} {self.status} #{self.attempt}>"
