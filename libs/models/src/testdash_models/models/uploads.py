"""Result files pushed over HTTP, kept in the database until the engine ingests them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from testdash_models.extensions import db
from testdash_models.models.ingest import RunMeta
from testdash_models.models.types import BigId, UTCDateTime, utcnow

UPLOAD_STATES = ("pending", "ingesting", "ingested", "failed")


class Upload(RunMeta, db.Model):  # type: ignore[name-defined,misc]
    """One ``POST /api/v1/uploads``: a run's metadata and its files, waiting for the engine."""

    __tablename__ = "uploads"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'ingesting', 'ingested', 'failed')", name="state"),
        Index("ix_uploads_state", "state", "id"),
        # The run page finds a run's uploaded copies by server and run directory.
        Index("ix_uploads_server_run_dir", "server_name", "run_dir"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_name: Mapped[str] = mapped_column(String(128))
    run_dir: Mapped[str] = mapped_column(String(512))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    uploaded_by: Mapped[str] = mapped_column(String(256))
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    files: Mapped[list[UploadFile]] = relationship(
        back_populates="upload", order_by="UploadFile.path", lazy="raise_on_sql"
    )

    def __repr__(self) -> str:
        return f"<Upload {self.id} {self.server_name}:{self.run_dir} {self.state}>"


class UploadFile(db.Model):  # type: ignore[name-defined,misc]
    """One file of an upload, with its bytes and, once ingested, what the engine made of it."""

    __tablename__ = "upload_files"
    __table_args__ = (UniqueConstraint("upload_id", "path", name="uq_upload_files_upload_path"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    upload_id: Mapped[int] = mapped_column(BigId, ForeignKey("uploads.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # Deferred: listing an upload's files never drags their bytes along.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    results: Mapped[int] = mapped_column(Integer, default=0)

    upload: Mapped[Upload] = relationship(back_populates="files")

    def __repr__(self) -> str:
        return f"<UploadFile {self.path} {self.status}>"
