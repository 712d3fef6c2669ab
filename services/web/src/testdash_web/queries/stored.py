"""Which of a run's files have their bytes stored: the uploads that brought them.

The engine keeps no copy of files it scans from a volume; files pushed over HTTP stay in
``upload_files``. ``testdash-engine uploads`` writes an upload to ``<server>/<run_dir>/<path>``
below its spool and scans that as the server's root, so the file row of an uploaded file
has ``full_name == f"{upload.run_dir}/{path}"`` on the server named ``upload.server_name``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from sqlalchemy import func, select
from testdash_models import db
from testdash_models.models import File, Run, Upload, UploadFile

CHUNK = 1024 * 1024  # bytes read from the database per query while streaming


def stored_files(run: Run, files: Iterable[File]) -> dict[int, int]:
    """File id → id of the upload file holding its bytes, for the run's uploaded files: one query.

    Of several uploads of the same path, the one whose SHA-256 equals the ingested file's wins,
    else the newest; a file whose recorded digest no stored copy has gets no link.
    """
    prefix = f"{run.run_dir}/"
    wanted = {f.full_name[len(prefix) :]: f for f in files if f.full_name.startswith(prefix)}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(UploadFile.id, UploadFile.path, UploadFile.sha256)
        .join(Upload, Upload.id == UploadFile.upload_id)
        .where(Upload.server_name == run.server.name, Upload.run_dir == run.run_dir)
        .order_by(Upload.id.desc())
    ).all()
    found: dict[int, int] = {}
    for upload_file_id, path, digest in rows:  # newest upload first
        file = wanted.get(path)
        if file is None or (file.sha256 and digest != file.sha256):
            continue
        found.setdefault(file.id, upload_file_id)
    return found


def volume_path(run: Run, file: File) -> str:
    """Where a scanned file lives on its server's volume (the run-relative name if unknown)."""
    root = run.server.root
    return os.path.join(root, file.full_name) if root else file.full_name


def size_of(upload_file_id: int) -> int:
    """The stored length in bytes of an upload file's content."""
    length = db.session.scalar(
        select(func.length(UploadFile.content)).where(UploadFile.id == upload_file_id)
    )
    return int(length or 0)


def chunks(upload_file_id: int, size: int) -> Iterator[bytes]:
    """The content in CHUNK-sized slices, so a 50 MB file never sits in memory whole."""
    for offset in range(0, size, CHUNK):
        piece = db.session.scalar(
            select(func.substr(UploadFile.content, offset + 1, CHUNK)).where(
                UploadFile.id == upload_file_id
            )
        )
        if not piece:
            return
        yield bytes(piece)
