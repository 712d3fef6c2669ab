"""``testdash-engine uploads``: files pushed to the web become a run tree, then scan and ingest.

Each upload is written to ``<spool>/<server>/<run_dir>/`` with a manifest of its
metadata, and the spool is scanned and ingested as that server's root, so uploads
go through the very same detection, rejection and exactly-once bookkeeping as a
mounted volume. The Upload rows (upload tables only) are updated here.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session
from testdash_models import db
from testdash_models.models import File, QueueItem, Run, Server, Upload, UploadFile
from testdash_models.models.types import utcnow

from testdash_engine import ingest
from testdash_engine.discover import MANIFEST, META_FIELDS
from testdash_engine.model import Limits

# An upload still 'ingesting' after this long was left by an engine that was killed.
STALE_CLAIM = timedelta(hours=1)
MAX_ATTEMPTS = 3
CLAIM_BATCH = 50


@dataclass(slots=True)
class UploadStats:
    """What one ``uploads`` pass did."""

    ingested: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    files_rejected: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing failed and no file was rejected."""
        return not self.failed and not self.files_rejected


def _claimable(seen: set[int]) -> Any:
    stale = utcnow() - STALE_CLAIM
    return and_(
        or_(
            Upload.state == "pending", and_(Upload.state == "ingesting", Upload.updated_at < stale)
        ),
        Upload.id.not_in(seen),
    )


def claim(session: Session, seen: set[int]) -> list[Upload]:
    """Take waiting uploads not handled in this pass; a conditional UPDATE makes each ours alone."""
    ids = session.scalars(
        select(Upload.id).where(_claimable(seen)).order_by(Upload.id).limit(CLAIM_BATCH)
    ).all()
    claimed = []
    for upload_id in ids:
        result = session.execute(
            update(Upload)
            .where(Upload.id == upload_id, _claimable(seen))
            .values(state="ingesting", attempts=Upload.attempts + 1, updated_at=utcnow())
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(upload_id)
    session.commit()
    seen.update(ids)
    return list(session.scalars(select(Upload).where(Upload.id.in_(claimed)).order_by(Upload.id)))


def rounds(uploads: list[Upload]) -> list[list[Upload]]:
    """Split one server's uploads so no run directory of a round holds another's."""
    out: list[list[Upload]] = []
    for upload in uploads:
        parts = Path(upload.run_dir).parts
        for batch in out:
            if not any(_nested(parts, Path(other.run_dir).parts) for other in batch):
                batch.append(upload)
                break
        else:
            out.append([upload])
    return out


def _nested(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _target(root: Path, *relative: str) -> Path:
    """A path below ROOT; the web checked the names, this refuses them again if unsafe."""
    parts = [p for rel in relative for p in rel.split("/")]
    if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise ValueError(f"unsafe path {'/'.join(relative)!r}")
    return root.joinpath(*parts)


def write_run(session: Session, root: Path, upload: Upload) -> Path:
    """Write an upload's files and a manifest of its metadata; returns the run directory."""
    run_path = _target(root, upload.run_dir)
    if run_path.exists():
        shutil.rmtree(run_path)  # a killed or retried attempt's leftovers
    run_path.mkdir(parents=True, mode=0o700)
    manifest: dict[str, Any] = {}
    files = session.execute(
        select(UploadFile.id, UploadFile.path).where(UploadFile.upload_id == upload.id)
    ).all()
    for file_id, path in files:
        # One file's bytes in memory at a time.
        content = session.scalar(select(UploadFile.content).where(UploadFile.id == file_id))
        if path == MANIFEST:
            manifest = _json_object(content or b"")
            continue
        target = _target(run_path, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content or b"")
    manifest.update({k: getattr(upload, k) for k in META_FIELDS if getattr(upload, k)})
    if upload.started_at:
        manifest["start_time"] = upload.started_at.isoformat()
    (run_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return run_path


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def record_outcome(session: Session, server: str, root: Path, upload: Upload) -> bool:
    """Copy each file's outcome from the files table; True when every file was ingested."""
    run = session.scalar(
        select(Run).join(Server).where(Server.name == server, Run.run_dir == upload.run_dir)
    )
    stored: dict[str, File] = {}
    if run is not None:
        upload.run_id = run.id
        rows = session.scalars(select(File).where(File.run_id == run.id))
        stored = {row.full_name: row for row in rows}
    item = session.scalar(
        select(QueueItem)
        .join(Server)
        .where(Server.name == server, QueueItem.run_dir == upload.run_dir)
        .where(QueueItem.root == str(root))
        .order_by(QueueItem.id.desc())
        .limit(1)
    )
    missing = 0
    for upload_file in session.scalars(select(UploadFile).where(UploadFile.upload_id == upload.id)):
        row = stored.get(f"{upload.run_dir}/{upload_file.path}")
        if upload_file.path == MANIFEST:
            upload_file.status, upload_file.reason = "skipped", "read as the run's manifest"
        elif os.path.basename(upload_file.path) == MANIFEST:
            upload_file.status, upload_file.reason = "skipped", f"{MANIFEST} is a reserved name"
        elif row is None:
            missing += 1
            upload_file.status, upload_file.reason = None, "not ingested"
        else:
            upload_file.status, upload_file.reason = row.status, row.reason
            upload_file.results = row.results
    if missing or (item is not None and item.state == "failed"):
        why = item.last_error if item is not None and item.last_error else None
        upload.error = why or f"{missing} files were not ingested"
        return False
    upload.error = None
    return True


def _settle(upload: Upload, ok: bool, stats: UploadStats) -> None:
    if ok:
        upload.state, upload.finished_at = "ingested", utcnow()
        stats.ingested += 1
    elif upload.attempts < MAX_ATTEMPTS:
        upload.state = "pending"
        stats.retried += 1
    else:
        upload.state, upload.finished_at = "failed", utcnow()
        stats.failed += 1
        stats.messages.append(f"upload {upload.id} failed: {upload.error}")


def _foreign_items(session: Session, server: str, root: Path) -> int:
    """Live queue items of SERVER not from this spool: our ingest would take them too."""
    count = session.scalar(
        select(func.count(QueueItem.id))
        .join(Server)
        .where(Server.name == server, QueueItem.state.in_(("pending", "running")))
        .where(or_(QueueItem.root.is_(None), QueueItem.root != str(root)))
    )
    return int(count or 0)


def ingest_round(
    session: Session, spool: Path, server: str, batch: list[Upload], stats: UploadStats
) -> None:
    """Write one round of a server's uploads, scan and ingest them, record the outcomes."""
    root = spool / server
    if _foreign_items(session, server, root):
        # Its volume is not mounted here: leave the server to its own engine and retry later.
        for upload in batch:
            upload.state, upload.attempts = "pending", upload.attempts - 1
        session.commit()
        stats.deferred += len(batch)
        return
    written = [write_run(session, root, upload) for upload in batch]
    existing = session.scalar(select(Server).where(Server.name == server))
    previous_root = existing.root if existing is not None else None
    config = current_app.config
    depth = max(len(Path(upload.run_dir).parts) for upload in batch)
    ttl = timedelta(hours=config["QUEUE_TTL_HOURS"])
    ingest.scan_root(session, server, str(root), depth=depth, ttl=ttl)
    # The spool is private and temporary: the server keeps the volume root it had.
    session.execute(update(Server).where(Server.name == server).values(root=previous_root))
    session.commit()
    ingested = ingest.Ingestor(
        session,
        limits=Limits(),
        batch_size=config["BATCH_SIZE"],
        default_tz=config["DEFAULT_TIMEZONE"],
    ).run(server, root=os.path.abspath(root))
    stats.files_rejected += ingested.files_rejected
    if server in ingested.busy_servers:
        # Another engine holds the server: our items stay queued and keep their files.
        for upload in batch:
            upload.state, upload.attempts = "pending", upload.attempts - 1
        stats.deferred += len(batch)
    else:
        for upload in batch:
            _settle(upload, record_outcome(session, server, root, upload), stats)
        for path in written:
            shutil.rmtree(path, ignore_errors=True)
    session.commit()


def run(spool: Path) -> UploadStats:
    """Ingest every waiting upload, including those that arrive while this runs."""
    session = db.session()
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    stats = UploadStats()
    seen: set[int] = set()
    while uploads := claim(session, seen):
        by_server: dict[str, list[Upload]] = defaultdict(list)
        for upload in uploads:
            by_server[upload.server_name].append(upload)
        for server, group in by_server.items():
            for batch in rounds(group):
                ingest_round(session, spool, server, batch, stats)
    return stats


def main(spool: str | None) -> int:
    """The ``uploads`` command: ingest, print a summary, return the exit status."""
    default = os.path.join(current_app.instance_path, "upload-spool")
    stats = run(Path(spool or current_app.config["UPLOAD_SPOOL_DIR"] or default))
    click.echo(
        f"uploads: {stats.ingested} ingested, {stats.failed} failed, {stats.retried} to retry, "
        f"{stats.deferred} deferred, {stats.files_rejected} files rejected"
    )
    for message in stats.messages:
        click.echo(f"  {message}", err=True)
    return 0 if stats.ok else 1
