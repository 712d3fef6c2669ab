"""Download of a run's stored file: uploaded bytes as an attachment; scanned files say where they are."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from testdash_models import db
from testdash_models.models import File, Upload, UploadFile
from testdash_web import create_app
from testdash_web.views.downloads import attachment_name

from tests.web.readside import NOW, add_run, add_server, cases
from tests.web.writeside import bearer, make_token

PATH = "reports/TEST-suite.xml"  # where add_run puts its one file, below the run directory


def store(server: str, run_dir: str, path: str, content: bytes) -> int:
    """An upload of one file, as POST /api/v1/uploads leaves it; returns the upload file's id."""
    upload = Upload(server_name=server, run_dir=run_dir, uploaded_by="ci", state="ingested")
    db.session.add(upload)
    db.session.flush()
    digest = hashlib.sha256(content).hexdigest()
    row = UploadFile(upload_id=upload.id, path=path, size=len(content), sha256=digest)
    row.content = content
    db.session.add(row)
    db.session.flush()
    return row.id


def seed(*, uploaded: bytes | None) -> tuple[int, int]:
    """One run with one file, uploaded with UPLOADED (or scanned when None); (run id, file id)."""
    sid = add_server("ci-uploads")
    run_id = add_run(sid, "build-7", NOW - timedelta(hours=1), cases(3, failing={1}))
    if uploaded is not None:
        store("ci-uploads", "build-7", PATH, uploaded)
    db.session.commit()
    file_id = db.session.query(File.id).filter(File.run_id == run_id).scalar()
    return run_id, file_id


def url(run_id: int, file_id: int) -> str:
    return f"/runs/{run_id}/files/{file_id}/download"


def test_run_page_links_an_uploaded_file_and_the_download_streams_it(browse):
    content = b"<testsuite>" + b"x" * (2 * 1024 * 1024 + 123) + b"</testsuite>"  # several chunks
    run_id, file_id = seed(uploaded=content)
    page = browse.get(f"/runs/{run_id}").get_data(as_text=True)
    assert f'href="{url(run_id, file_id)}"' in page
    assert "on the build server" not in page

    response = browse.get(url(run_id, file_id))
    assert response.status_code == 200
    assert response.get_data() == content
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="TEST-suite.xml"'
    assert response.headers["Content-Length"] == str(len(content))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_markup_is_served_as_bytes_to_save_never_as_a_page(browse):
    payload = b"<html><script>alert(document.cookie)</script></html>"
    run_id, file_id = seed(uploaded=payload)
    response = browse.get(url(run_id, file_id))
    assert response.get_data() == payload
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_a_scanned_file_shows_where_it_is_and_cannot_be_downloaded(browse):
    run_id, file_id = seed(uploaded=None)
    page = browse.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "on the build server at /results/ci-uploads/build-7/reports/TEST-suite.xml" in page
    assert "/download" not in page
    response = browse.get(url(run_id, file_id))
    assert response.status_code == 404
    assert "on the build server at" in response.get_data(as_text=True)


def test_a_file_of_another_run_or_an_unknown_one_is_not_found(browse):
    run_id, file_id = seed(uploaded=b"<testsuite/>")
    other = add_run(add_server("elsewhere"), "build-1", NOW, cases(1))
    db.session.commit()
    assert browse.get(url(other, file_id)).status_code == 404
    assert browse.get(url(run_id, file_id + 10_000)).status_code == 404
    assert browse.get(url(10**9, file_id)).status_code == 404


def test_of_two_uploads_of_a_path_the_one_with_the_ingested_digest_is_served(browse):
    run_id, file_id = seed(uploaded=b"<testsuite>first</testsuite>")
    store("ci-uploads", "build-7", PATH, b"<testsuite>second</testsuite>")
    file = db.session.get(File, file_id)
    file.sha256 = hashlib.sha256(b"<testsuite>first</testsuite>").hexdigest()
    db.session.commit()
    assert browse.get(url(run_id, file_id)).get_data() == b"<testsuite>first</testsuite>"

    # The ingested bytes are stored nowhere: no link, no download.
    db.session.get(File, file_id).sha256 = "0" * 64
    db.session.commit()
    assert browse.get(url(run_id, file_id)).status_code == 404
    assert url(run_id, file_id) not in browse.get(f"/runs/{run_id}").get_data(as_text=True)


def test_an_upload_on_another_server_with_the_same_run_dir_is_not_served(browse):
    run_id, file_id = seed(uploaded=None)
    store("other-server", "build-7", PATH, b"<testsuite>not this run</testsuite>")
    db.session.commit()
    assert browse.get(url(run_id, file_id)).status_code == 404


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("build-7/reports/TEST-suite.xml", "TEST-suite.xml"),
        ('build-7/a b"; evil=1.xml', "a_b_evil1.xml"),
        ("build-7/..\\..\\etc\\passwd", "passwd"),
        ("build-7/\u00e9t\u00e9.xml", "ete.xml"),
        ("build-7/...", "download"),
    ],
)
def test_attachment_names_are_plain_ascii_without_quotes_or_paths(full_name, expected):
    assert attachment_name(full_name) == expected


def test_download_needs_sign_in_when_reading_does(dash, database_url):
    run_id, file_id = seed(uploaded=b"<testsuite/>")
    guarded = create_app(
        "testing", overrides={"SQLALCHEMY_DATABASE_URI": database_url, "READ_REQUIRES_AUTH": True}
    )
    client = guarded.test_client()
    anonymous = client.get(url(run_id, file_id))
    assert anonymous.status_code == 302
    assert "/signin" in anonymous.headers["Location"]
    secret = make_token(guarded, "reader", "upload")
    response = client.get(url(run_id, file_id), headers=bearer(secret))
    assert response.status_code == 200
    assert response.get_data() == b"<testsuite/>"
