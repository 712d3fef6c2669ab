"""Roll-ups kept at ingest time, rename aliases and quarantine (issue 5, part B)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from testdash_models.extensions import db
from testdash_models.models.types import BigId, UTCDateTime, utcnow


class RunRollup(db.Model):  # type: ignore[name-defined,misc]
    """One run's final counts and summed test durations; survives the pruning of its results.

    One row per run (not per day): trends re-bucket them into days of any time zone,
    and recomputing a run's contribution is replacing its row.
    """

    __tablename__ = "run_rollups"
    __table_args__ = (Index("ix_run_rollups_server_at", "server_id", "at"),)

    run_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    run_tag: Mapped[str | None] = mapped_column(String(256))
    branch: Mapped[str | None] = mapped_column(String(256))
    # The run's start (its creation when it has none): what trends bucket by.
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    flaky: Mapped[int] = mapped_column(Integer, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<RunRollup {self.run_id} {self.total}>"


class TestDaily(db.Model):  # type: ignore[name-defined,misc]
    """One test's final results on one server in one UTC day."""

    __tablename__ = "test_daily"
    __table_args__ = (Index("ix_test_daily_day", "day"),)
    __test__ = False  # not a pytest class

    server_id: Mapped[int] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    test_case_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    executions: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    flaky: Mapped[int] = mapped_column(Integer, default=0)
    # Executions with a duration, so a mean ignores those without one.
    timed: Mapped[int] = mapped_column(Integer, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)

    def __repr__(self) -> str:
        return f"<TestDaily {self.day} {self.test_case_id} {self.executions}>"


class FlakySeries(db.Model):  # type: ignore[name-defined,misc]
    """One series' (server + run_tag + branch) window as the engine last counted it.

    The id is ``testdash_models.flaky.series_id`` of the three; SETTINGS are the flaky
    settings it was counted with (canonical JSON): the web recounts a series whose
    settings are not its own.
    """

    __tablename__ = "flaky_series"
    __table_args__ = (Index("ix_flaky_series_server", "server_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    run_tag: Mapped[str | None] = mapped_column(String(256))
    branch: Mapped[str | None] = mapped_column(String(256))
    settings: Mapped[str] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)  # in the window
    infra: Mapped[int] = mapped_column(Integer, default=0)  # of which left out
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<FlakySeries {self.server_id} {self.run_tag} {self.branch}>"


class FlakyTest(db.Model):  # type: ignore[name-defined,misc]
    """A test found flaky in one series' window: its figures, score and impact."""

    __tablename__ = "flaky_tests"
    # Read backwards: the ranking's order (impact, score, test id, all descending).
    __table_args__ = (Index("ix_flaky_tests_rank", "impact", "score", "test_case_id"),)
    __test__ = False

    series_id: Mapped[int] = mapped_column(
        ForeignKey("flaky_series.id", ondelete="CASCADE"), primary_key=True
    )
    test_case_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    executions: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    flips: Mapped[int] = mapped_column(Integer)
    retries: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    impact: Mapped[float] = mapped_column(Float)
    rules: Mapped[str] = mapped_column(String(64))  # those that fired, comma-separated

    def __repr__(self) -> str:
        return f"<FlakyTest {self.series_id} {self.test_case_id} {self.score}>"


class TestAlias(db.Model):  # type: ignore[name-defined,misc]
    """A rename: results of OLD_ID before EFFECTIVE_FROM belong to NEW_ID's history."""

    __tablename__ = "test_aliases"
    __table_args__ = (
        CheckConstraint("old_id <> new_id", name="not_self"),
        Index("ix_test_aliases_new_id", "new_id"),
    )
    __test__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    old_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    new_id: Mapped[int] = mapped_column(BigInteger)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<TestAlias {self.old_id} -> {self.new_id}>"


class Quarantine(db.Model):  # type: ignore[name-defined,misc]
    """A muted test on one server and branch (NULL: all of them) until it expires or is lifted."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_test", "test_case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_case_id: Mapped[int] = mapped_column(BigInteger)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    branch: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(256))

    def __repr__(self) -> str:
        return f"<Quarantine {self.test_case_id} {self.reason[:20]!r}>"
