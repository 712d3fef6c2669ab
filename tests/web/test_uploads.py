"""Uploads: stored whole by the web, ingested by ``testdash-engine uploads``, refused when unsafe."""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import time

import pytest
from testdash_engine.cli import main
from testdash_models import db
from testdash_models.models import Run, Upload, UploadFile

from tests.web.writeside import (
    bearer,
    csrf_from,
    junit,
    make_token,
    sign_in,
    tar_bytes,
    zip_bytes,
)

META = {
    "server": "ci-linux",
    "run_dir": "nightly/build-7",
    "owner": "qa",
    "site": "lab",
    "host": "runner-3",
    "run_tag": "nightly",
    "user_tag": "perf",
    "branch": "main",
    "commit": "abc123",
    "start_time": "2026-11-30T06:00:00+01:00",
}


def post(client, secret, files, **fields):
    data = {**META, **fields, "file": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(
        "/api/v1/uploads", data=data, headers=bearer(secret), content_type="multipart/form-data"
    )


def stored(web):
    with web.app_context():
        return db.session.query(Upload).count(), db.session.query(UploadFile).count()


def test_upload_is_stored_ingested_by_the_engine_and_polled(app, web, client, tmp_path):
    secret = make_token(web, "ci", "upload")
    started = time.perf_counter()
    archive = zip_bytes(
        {"reports/TEST-beta.xml": junit("beta"), "logs/build.log": b"compiling...\n"}
    )
    response = post(client, secret, [("TEST-alpha.xml", junit("alpha")), ("more.zip", archive)])
    assert response.status_code == 202, response.json
    url = response.headers["Location"]
    assert (
        response.json["url"] == url
        and response.json["state"] == "pending"
        and response.json["files"] == 3
    )
    poll = client.get(url).json
    assert poll["state"] == "pending" and [f["path"] for f in poll["files"]] == [
        "TEST-alpha.xml",
        "logs/build.log",
        "reports/TEST-beta.xml",
    ]

    result = app.test_cli_runner().invoke(main, ["uploads", "--spool", str(tmp_path / "spool")])
    assert result.exit_code == 0, result.output
    assert "1 ingested" in result.output

    done = client.get(url).json
    assert done["state"] == "ingested" and done["error"] is None
    outcome = {f["path"]: (f["status"], f["results"]) for f in done["files"]}
    assert outcome == {
        "TEST-alpha.xml": ("accepted", 3),
        "reports/TEST-beta.xml": ("accepted", 3),
        "logs/build.log": ("skipped", 0),
    }
    assert done["counts"] == {"files": 3, "accepted": 2, "rejected": 0, "skipped": 1, "results": 6}
    assert (
        done["run"]["total"] == 6
        and done["run"]["failed"] == 2
        and done["run"]["status"] == "failed"
    )
    with web.app_context():
        run = db.session.query(Run).one()
        assert (run.server.name, run.run_dir) == ("ci-linux", "nightly/build-7")
        assert (run.owner, run.branch, run.commit, run.user_tag) == ("qa", "main", "abc123", "perf")
        assert run.started_at.isoformat() == "2026-11-30T05:00:00+00:00"
        assert run.server.root is None, "the private spool is not remembered as the server's root"
    assert not any((tmp_path / "spool" / "ci-linux").rglob("*.xml")), "the spool is emptied"
    print(f"upload -> ingest -> poll: {time.perf_counter() - started:.2f} s")


def test_tar_gz_upload_with_a_rejected_file_reports_the_reason(app, web, client, tmp_path):
    secret = make_token(web, "ci", "upload")
    archive = tar_bytes(
        [("./a/TEST-ok.xml", junit()), ("a/TEST-broken.xml", b"<testsuite><testcase name='x'>\n")]
    )
    response = post(client, secret, [("results.tar.gz", archive)], run_dir="", build="1234")
    assert response.status_code == 202, response.json
    result = app.test_cli_runner().invoke(main, ["uploads", "--spool", str(tmp_path / "spool")])
    assert result.exit_code == 1, "a rejected file fails the job, as ingest does"
    done = client.get(response.headers["Location"]).json
    assert done["run_dir"] == "1234" and done["state"] == "ingested"
    broken = next(f for f in done["files"] if f["path"] == "a/TEST-broken.xml")
    assert broken["status"] == "rejected" and broken["reason"]


def test_browser_upload_form_stores_and_shows_the_upload(web, client):
    secret = make_token(web, "ops", "admin")
    sign_in(client, secret)
    page = client.get("/uploads").get_data(as_text=True)
    data = {**META, "csrf_token": csrf_from(page), "file": [(io.BytesIO(junit()), "TEST-a.xml")]}
    response = client.post("/uploads", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "TEST-a.xml" in detail and "pending" in detail and "Stored 1 files" in detail
    assert stored(web) == (1, 1)


def _zip_with_lying_size() -> bytes:
    data = bytearray(zip_bytes({"big.xml": b"<a/>" * 5000}))
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.index(signature) + offset
        data[at : at + 4] = struct.pack("<I", 100)
    return bytes(data)


def _link(name, kind, target="/etc/passwd"):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _device(name):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


REFUSALS = {
    "zip_slip": (
        [("r.zip", zip_bytes({"../../etc/cron.d/x.xml": junit()}))],
        {},
        400,
        "path_traversal",
    ),
    "zip_absolute": ([("r.zip", zip_bytes({"/etc/x.xml": junit()}))], {}, 400, "absolute_path"),
    "zip_windows_absolute": (
        [("r.zip", zip_bytes({"C:/x.xml": junit()}))],
        {},
        400,
        "absolute_path",
    ),
    "zip_backslash": ([("r.zip", zip_bytes({"..\\..\\x.xml": junit()}))], {}, 400, "bad_path"),
    "zip_symlink": (
        [
            (
                "r.zip",
                zip_bytes({"link.xml": b"/etc/passwd"}, mode={"link.xml": stat.S_IFLNK | 0o777}),
            )
        ],
        {},
        400,
        "link_in_archive",
    ),
    "zip_bomb_ratio": (
        [("r.zip", zip_bytes({"zeros.xml": b"\0" * (8 << 20)}))],
        {},
        413,
        "archive_bomb",
    ),
    # zipfile stops at the declared size and the CRC no longer matches.
    "zip_lies_about_size": ([("r.zip", _zip_with_lying_size())], {}, 400, "bad_archive"),
    "tar_slip": ([("r.tar.gz", tar_bytes([("../x.xml", junit())]))], {}, 400, "path_traversal"),
    "tar_absolute": ([("r.tgz", tar_bytes([("/tmp/x.xml", junit())]))], {}, 400, "absolute_path"),
    "tar_symlink": (
        [("r.tar.gz", tar_bytes([_link("x.xml", tarfile.SYMTYPE)]))],
        {},
        400,
        "link_in_archive",
    ),
    "tar_hardlink": (
        [("r.tar.gz", tar_bytes([_link("x.xml", tarfile.LNKTYPE, "y")]))],
        {},
        400,
        "link_in_archive",
    ),
    "tar_device": ([("r.tar", tar_bytes([_device("dev.xml")], gz=False))], {}, 400, "special_file"),
    "tar_gz_bomb": (
        [("r.tar.gz", tar_bytes([("zeros.xml", b"\0" * (8 << 20))]))],
        {},
        413,
        "archive_bomb",
    ),
    "not_gzip": ([("r.tar.gz", b"PK\x03\x04 not gzip")], {}, 400, "bad_archive"),
    "not_a_zip": ([("r.zip", b"garbage")], {}, 400, "bad_archive"),
    "file_name_traversal": ([("../../x.xml", junit())], {}, 400, "path_traversal"),
    "too_many_files": ([(f"t{i}.xml", junit()) for i in range(4)], {}, 413, "too_many_files"),
    "too_many_in_zip": (
        [("r.zip", zip_bytes({f"t{i}.xml": b"x" for i in range(4)}))],
        {},
        413,
        "too_many_files",
    ),
    "file_too_big": ([("big.xml", b"x" * 300_000)], {}, 413, "file_too_large"),
    "all_too_big": ([(f"f{i}.xml", b"x" * 200_000) for i in range(3)], {}, 413, "upload_too_large"),
    "duplicate": (
        [("a.xml", junit()), ("r.zip", zip_bytes({"a.xml": junit()}))],
        {},
        400,
        "duplicate_path",
    ),
    "second_part_bad": (
        [("a.xml", junit()), ("r.zip", zip_bytes({"../b.xml": b"x"}))],
        {},
        400,
        "path_traversal",
    ),
    "run_dir_escapes": ([("a.xml", junit())], {"run_dir": "../../etc"}, 400, "path_traversal"),
    "no_server": ([("a.xml", junit())], {"server": ""}, 400, "bad_server"),
    "server_with_slash": ([("a.xml", junit())], {"server": "a/b"}, 400, "bad_server"),
    "no_run": ([("a.xml", junit())], {"run_dir": ""}, 400, "bad_run_dir"),
    "bad_start_time": ([("a.xml", junit())], {"start_time": "yesterday"}, 400, "bad_metadata"),
    "no_files": ([], {}, 400, "no_files"),
}


@pytest.fixture
def limited(sqlite_url, tmp_path, monkeypatch):
    """Small limits on SQLite: refusals are decided before the database is touched."""
    from testdash_web import create_app

    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path / "instance"))
    limits = {"UPLOAD_MAX_FILES": 3, "UPLOAD_MAX_FILE_BYTES": 256_000, "UPLOAD_MAX_BYTES": 500_000}
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": sqlite_url, **limits})
    return app, make_token(app, "ci", "upload")


@pytest.mark.parametrize("case", list(REFUSALS))
def test_unsafe_or_oversized_uploads_are_refused_and_nothing_is_stored(limited, case):
    app, secret = limited
    files, fields, status, code = REFUSALS[case]
    if case in ("zip_bomb_ratio", "tar_gz_bomb"):
        app.config.update(UPLOAD_MAX_FILE_BYTES=16 << 20, UPLOAD_MAX_BYTES=32 << 20)
    response = post(app.test_client(), secret, files, **fields)
    assert (response.status_code, response.json["error"]) == (status, code), response.json
    assert response.json["message"]
    assert stored(app) == (0, 0)


def test_a_body_over_the_request_limit_is_refused_before_it_is_read(make_web):
    app = make_web(UPLOAD_MAX_BYTES=10_000)
    secret = make_token(app, "ci", "upload")
    response = post(app.test_client(), secret, [("big.xml", b"x" * (2 << 20))])
    assert response.status_code == 413
    assert stored(app) == (0, 0)


def test_uploads_are_rate_limited_per_credential(make_web):
    app = make_web(UPLOADS_PER_MINUTE=2)
    secret = make_token(app, "ci", "upload")
    client = app.test_client()
    assert [
        post(client, secret, [("a.xml", junit())], run_dir=f"r{i}").status_code for i in range(2)
    ] == [202, 202]
    limited = post(client, secret, [("a.xml", junit())], run_dir="r3")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    other = make_token(app, "ci2", "upload")
    assert post(client, other, [("a.xml", junit())], run_dir="r4").status_code == 202
    assert stored(app) == (3, 3)
