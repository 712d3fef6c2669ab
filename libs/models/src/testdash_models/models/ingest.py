"""Where results come from: servers, runs, files, the queue and ingest jobs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from testdash_models.extensions import db
from testdash_models.models.types import BigId, UTCDateTime, source_local, utcnow

RUN_STATUSES = ("passed", "failed", "empty", "rejected")
FILE_STATUSES = ("accepted", "rejected", "skipped")
QUEUE_STATES = ("pending", "running", "done", "failed", "expired")
JOB_OUTCOMES = ("running", "success", "partial", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class RunMeta:
    """What a run's manifest (or the article's schedule file) says about it."""

    owner: Mapped[str | None] = mapped_column(String(128))
    site: Mapped[str | None] = mapped_column(String(128))
    host: Mapped[str | None] = mapped_column(String(256))
    run_tag: Mapped[str | None] = mapped_column(String(256))
    user_tag: Mapped[str | None] = mapped_column(String(256))
    build: Mapped[str | None] = mapped_column(String(256))
    branch: Mapped[str | None] = mapped_column(String(256))
    commit: Mapped[str | None] = mapped_column(String(64))


class SourceZones:
    """What the report told of the zone of a start and of an end time.

    Each side has one of: the UTC offset the report stated (minutes east), or the zone its
    naive time was read in (the server's ``--timezone``), or neither (epoch times have no
    zone; rows ingested before these columns existed).
    """

    start_utc_offset: Mapped[int | None] = mapped_column(SmallInteger)
    start_assumed_zone: Mapped[str | None] = mapped_column(String(64))
    end_utc_offset: Mapped[int | None] = mapped_column(SmallInteger)
    end_assumed_zone: Mapped[str | None] = mapped_column(String(64))


class Server(db.Model):  # type: ignore[name-defined,misc]
    """A build or test server whose result volume an engine scans."""

    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    root: Mapped[str | None] = mapped_column(String(1024))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ingest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    runs: Mapped[list[Run]] = relationship(back_populates="server", lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Server {self.name}>"


class Run(RunMeta, SourceZones, db.Model):  # type: ignore[name-defined,misc]
    """One test run: a directory of result files on one server."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("server_id", "run_dir", name="uq_runs_server_run_dir"),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        Index("ix_runs_server_started", "server_id", "started_at"),
        Index("ix_runs_started", "started_at"),
        Index("ix_runs_run_tag", "run_tag"),
        Index("ix_runs_branch", "branch"),
        Index("ix_runs_user_tag", "user_tag"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    run_dir: Mapped[str] = mapped_column(String(1024))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="empty")
    total: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    flaky: Mapped[int] = mapped_column(Integer, default=0)
    files_accepted: Mapped[int] = mapped_column(Integer, default=0)
    files_rejected: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    server: Mapped[Server] = relationship(back_populates="runs", lazy="joined")

    @property
    def source_started_at(self) -> datetime | None:
        """The start in the report's own zone (stated or assumed); None when it had none."""
        return source_local(self.started_at, self.start_utc_offset, self.start_assumed_zone)

    @property
    def source_finished_at(self) -> datetime | None:
        """The end in the report's own zone (stated or assumed); None when it had none."""
        return source_local(self.finished_at, self.end_utc_offset, self.end_assumed_zone)

    def __repr__(self) -> str:
        return f"<Run {self.run_dir} {self.status} {self.total}>"


class File(SourceZones, db.Model):  # type: ignore[name-defined,misc]
    """The article's ``Files``: one result file of a run, accepted or rejected with a reason."""

    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("run_id", "full_name", name="uq_files_run_full_name"),
        CheckConstraint(_in("status", FILE_STATUSES), name="status"),
        Index("ix_files_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    run_dir: Mapped[str] = mapped_column(String(1024))
    file_path: Mapped[str] = mapped_column(String(1024))
    file_name: Mapped[str] = mapped_column(String(512))
    full_name: Mapped[str] = mapped_column(String(2048))
    file_type: Mapped[str] = mapped_column(String(32))
    file_size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(String(32))
    dialect: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    reason_line: Mapped[int | None] = mapped_column(Integer)
    # Non-fatal parse notes (a repaired value, an ignored element), capped.
    notes: Mapped[str | None] = mapped_column(Text)
    # Order-independent digest of the file's results: finds the same results in another form.
    results_digest: Mapped[int | None] = mapped_column(BigInteger)
    results: Mapped[int] = mapped_column(Integer, default=0)
    tests: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    flaky: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<File {self.full_name} {self.status}>"


class QueueItem(RunMeta, db.Model):  # type: ignore[name-defined,misc]
    """The article's ``Queue``: a run waiting to be ingested before its time to live."""

    __tablename__ = "queue"
    __table_args__ = (
        CheckConstraint(_in("state", QUEUE_STATES), name="state"),
        Index("ix_queue_state_ttl", "state", "time_to_live"),
        # One live item per run: a re-scan refreshes it instead of queueing twice.
        Index(
            "uq_queue_pending_run",
            "server_id",
            "run_dir",
            unique=True,
            postgresql_where=text("state IN ('pending', 'running')"),
            sqlite_where=text("state IN ('pending', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    root: Mapped[str | None] = mapped_column(String(1024))
    run_dir: Mapped[str] = mapped_column(String(1024))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_to_live: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="scan")

    server: Mapped[Server] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<QueueItem {self.run_dir} {self.state}>"


class IngestJob(db.Model):  # type: ignore[name-defined,misc]
    """One ``testdash-engine run`` or ``ingest`` for one server, with its figures."""

    __tablename__ = "ingest_jobs"
    __table_args__ = (
        CheckConstraint(_in("outcome", JOB_OUTCOMES), name="outcome"),
        Index("ix_ingest_jobs_server_started", "server_id", "started_at"),
        Index("ix_ingest_jobs_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    files_seen: Mapped[int] = mapped_column(Integer, default=0)
    files_new: Mapped[int] = mapped_column(Integer, default=0)
    files_changed: Mapped[int] = mapped_column(Integer, default=0)
    files_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    files_rejected: Mapped[int] = mapped_column(Integer, default=0)
    results_written: Mapped[int] = mapped_column(BigInteger, default=0)
    runs_ingested: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(256))

    def __repr__(self) -> str:
        return f"<IngestJob {self.id} {self.outcome}>"
