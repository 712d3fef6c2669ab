"""Download of a run's file whose bytes came by upload; always an attachment, never rendered."""

from __future__ import annotations

import posixpath

from flask import Blueprint, Response, abort, stream_with_context
from flask.typing import ResponseReturnValue
from testdash_models import db
from testdash_models.models import File
from werkzeug.utils import secure_filename

from testdash_web.paging import BIGINT
from testdash_web.queries import runs, stored

bp = Blueprint("downloads", __name__)
# The bytes are whatever a client uploaded: no type guessing, no rendering, no script.
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-cache",
}


def attachment_name(full_name: str) -> str:
    """A safe ASCII file name from the file's last path part (``download`` if nothing is left)."""
    return secure_filename(posixpath.basename(full_name.replace("\\", "/")))[:200] or "download"


@bp.get("/runs/<int:run_id>/files/<int:file_id>/download")
def download(run_id: int, file_id: int) -> ResponseReturnValue:
    """Stream a stored file of the run; a file scanned from a volume is a 404 saying where it is."""
    run = runs.get_run(run_id)
    file = db.session.get(File, file_id) if 0 <= file_id < BIGINT else None
    if file is None or file.run_id != run.id:
        abort(404, description=f"run {run_id} has no file {file_id}")
    upload_file_id = stored.stored_files(run, [file]).get(file.id)
    if upload_file_id is None:
        where = stored.volume_path(run, file)
        abort(404, description=f"not stored here: on the build server at {where}")
    size = stored.size_of(upload_file_id)
    return Response(
        stream_with_context(stored.chunks(upload_file_id, size)),
        content_type="application/octet-stream",
        headers={
            **HEADERS,
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{attachment_name(file.full_name)}"',
        },
    )
