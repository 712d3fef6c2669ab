"""Result files pushed over HTTP: stored whole in one transaction, then ingested by the engine."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from testdash_models import db
from testdash_models.models import Run, Upload, UploadFile
from werkzeug.datastructures import FileStorage, MultiDict

from testdash_web import k8s
from testdash_web.archives import Collector, Limits, Refused, clean_path, sha256
from testdash_web.auth import Identity, current_identity, error, require, state

bp = Blueprint("uploads", __name__)
SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Longest value each metadata field may hold (the columns' sizes).
META_LIMITS = {
    "owner": 128,
    "site": 128,
    "host": 256,
    "run_tag": 256,
    "user_tag": 256,
    "build": 256,
    "branch": 256,
    "commit": 64,
}


def _metadata(form: Mapping[str, str]) -> dict[str, Any]:
    """Server, run directory and run metadata from the form, validated."""
    server = form.get("server", "").strip()
    if not SERVER_NAME.fullmatch(server):
        raise Refused(400, "bad_server", "server is required: letters, digits, '.', '_' or '-'")
    meta: dict[str, Any] = {"server_name": server}
    for name, limit in META_LIMITS.items():
        value = form.get(name, "").strip()
        if len(value) > limit:
            raise Refused(400, "bad_metadata", f"{name} is longer than {limit} characters")
        meta[name] = value or None
    run_dir = form.get("run_dir", "").strip() or meta["build"]
    if not run_dir:
        raise Refused(400, "bad_run_dir", "give run_dir, or build to name the run after it")
    meta["run_dir"] = clean_path(run_dir, "run_dir")
    started = form.get("start_time", "").strip()
    try:
        parsed = datetime.fromisoformat(started.replace("Z", "+00:00")) if started else None
    except ValueError:
        raise Refused(400, "bad_metadata", f"start_time {started[:40]!r} is not ISO 8601") from None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    meta["started_at"] = parsed
    return meta


def store_upload(
    form: Mapping[str, str], files: MultiDict[str, FileStorage], identity: Identity
) -> Upload:
    """Validate everything, then store the upload and its files in one transaction."""
    meta = _metadata(form)
    parts = [part for part in files.getlist("file") if part.filename]
    if not parts:
        raise Refused(400, "no_files", "send result files or an archive in 'file' fields")
    collector = Collector(Limits.from_config(current_app.config))
    for part in parts:
        collector.add_upload(part.filename or "", part.stream)
    if not collector.members:
        raise Refused(400, "no_files", "the archives hold no files")
    upload = Upload(
        **meta,
        uploaded_by=f"{identity.via}:{identity.name}"[:256],
        file_count=len(collector.members),
        total_bytes=collector.total,
    )
    upload.files = [
        UploadFile(path=path, size=len(content), sha256=sha256(content), content=content)
        for path, content in sorted(collector.members.items())
    ]
    db.session.add(upload)
    db.session.commit()
    return upload


def _limit_request() -> None:
    """Refuse an oversized body while it is read, before it reaches memory or disk."""
    config = current_app.config
    # An archive is smaller than its expanded files; headers and fields get 1 MiB more.
    request.max_content_length = config["UPLOAD_MAX_BYTES"] + 1024 * 1024
    request.max_form_parts = config["UPLOAD_MAX_FILES"] + 50


def _rate_limited(identity: Identity) -> int:
    """Seconds to wait, or 0 after counting this upload (per process)."""
    limiter = state().uploads
    wait = limiter.retry_after(identity.name)
    if not wait:
        limiter.hit(identity.name)
    return math.ceil(wait)


@bp.post("/api/v1/uploads")
@require("upload")
def create() -> ResponseReturnValue:
    """Take result files or archives plus run metadata; 202 with the URL to poll."""
    identity = current_identity()
    assert identity is not None
    wait = _rate_limited(identity)
    if wait:
        message = f"too many uploads; retry in {wait} s"
        return jsonify(error="rate_limited", message=message), 429, {"Retry-After": str(wait)}
    _limit_request()
    try:
        upload = store_upload(request.form, request.files, identity)
    except Refused as refused:
        db.session.rollback()
        return error(refused.status, refused.code, refused.message)
    k8s.run_uploads_now(current_app.config)
    url = url_for("uploads.show", upload_id=upload.id, _external=True)
    body = jsonify(id=upload.id, state=upload.state, url=url, files=upload.file_count)
    return body, 202, {"Location": url}


def _load(upload_id: int) -> Upload:
    upload: Upload | None = db.session.scalar(
        select(Upload).where(Upload.id == upload_id).options(selectinload(Upload.files))
    )
    if upload is None:
        abort(404, description=f"no upload {upload_id}")
    return upload


def upload_json(upload: Upload) -> dict[str, Any]:
    """An upload's state, metadata and per-file outcome."""
    counts = {"files": upload.file_count, "accepted": 0, "rejected": 0, "skipped": 0}
    for item in upload.files:
        if item.status in counts:
            counts[item.status] += 1
    counts["results"] = sum(item.results for item in upload.files)
    run = db.session.get(Run, upload.run_id) if upload.run_id else None
    return {
        "id": upload.id,
        "url": url_for("uploads.show", upload_id=upload.id, _external=True),
        "state": upload.state,
        "server": upload.server_name,
        "run_dir": upload.run_dir,
        "metadata": {name: getattr(upload, name) for name in META_LIMITS},
        "started_at": upload.started_at.isoformat() if upload.started_at else None,
        "uploaded_by": upload.uploaded_by,
        "created_at": upload.created_at.isoformat(),
        "finished_at": upload.finished_at.isoformat() if upload.finished_at else None,
        "attempts": upload.attempts,
        "error": upload.error,
        "bytes": upload.total_bytes,
        "counts": counts,
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                "status": f.status,
                "reason": f.reason,
                "results": f.results,
            }
            for f in upload.files
        ],
        "run": None
        if run is None
        else {
            "id": run.id,
            "status": run.status,
            **{k: getattr(run, k) for k in ("total", "passed", "failed", "errors", "skipped")},
            "flaky": run.flaky,
        },
    }


@bp.get("/api/v1/uploads/<int:upload_id>")
def show(upload_id: int) -> ResponseReturnValue:
    """Poll an upload: pending, ingesting, then ingested or failed with each file's outcome."""
    return jsonify(upload_json(_load(upload_id)))


@bp.get("/uploads")
def index() -> ResponseReturnValue:
    """Recent uploads, and the upload form for those allowed to upload."""
    uploads = db.session.scalars(select(Upload).order_by(Upload.id.desc()).limit(50)).all()
    return render_template("uploads/index.html", uploads=uploads)


@bp.post("/uploads")
@require("upload")
def upload_form() -> ResponseReturnValue:
    """The browser's upload form: the same checks and storage as the API."""
    identity = current_identity()
    assert identity is not None
    wait = _rate_limited(identity)
    if wait:
        flash(f"Too many uploads; try again in {wait} s.")
        return redirect(url_for("uploads.index")), 303
    _limit_request()
    try:
        upload = store_upload(request.form, request.files, identity)
    except Refused as refused:
        db.session.rollback()
        flash(f"Upload refused: {refused.message}")
        return redirect(url_for("uploads.index")), 303
    k8s.run_uploads_now(current_app.config)
    flash(f"Stored {upload.file_count} files; the engine will ingest them shortly.")
    return redirect(url_for("uploads.page", upload_id=upload.id)), 303


@bp.get("/uploads/<int:upload_id>")
def page(upload_id: int) -> ResponseReturnValue:
    """One upload's state and files."""
    return render_template("uploads/detail.html", upload=upload_json(_load(upload_id)))
