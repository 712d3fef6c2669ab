"""``testdash-engine uploads``: uploads become run trees and go through the normal scan and ingest."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from testdash_engine.cli import main
from testdash_models.models import QueueItem, Run, Server, Upload, UploadFile
from testdash_models.models.types import utcnow

from tests.web.writeside import junit


def add_upload(db, server="ci", run_dir="build-1", files=None, **meta):
    files = files if files is not None else {"TEST-a.xml": junit("a")}
    upload = Upload(
        server_name=server,
        run_dir=run_dir,
        uploaded_by="token:ci",
        file_count=len(files),
        total_bytes=sum(map(len, files.values())),
        **meta,
    )
    upload.files = [
        UploadFile(path=p, size=len(c), sha256=hashlib.sha256(c).hexdigest(), content=c)
        for p, c in files.items()
    ]
    db.session.add(upload)
    db.session.commit()
    return upload.id


def run_uploads(runner, tmp_path):
    return runner.invoke(main, ["uploads", "--spool", str(tmp_path / "spool")])


def test_nested_and_repeated_run_dirs_are_ingested_in_separate_rounds(db, runner, tmp_path):
    ids = [
        add_upload(db, run_dir="nightly", files={"TEST-top.xml": junit("top")}),
        add_upload(db, run_dir="nightly/build-2", files={"TEST-deep.xml": junit("deep")}),
        add_upload(db, run_dir="nightly", files={"TEST-again.xml": junit("again")}),
        add_upload(db, server="other", run_dir="x/y/z"),
    ]
    result = run_uploads(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert "4 ingested" in result.output
    db.session.expire_all()
    assert [db.session.get(Upload, i).state for i in ids] == ["ingested"] * 4
    runs = {(r.server.name, r.run_dir): r.total for r in db.session.query(Run)}
    assert runs == {("ci", "nightly"): 6, ("ci", "nightly/build-2"): 3, ("other", "x/y/z"): 3}


def test_reupload_of_the_same_files_is_stored_once(db, runner, tmp_path):
    add_upload(db)
    assert run_uploads(runner, tmp_path).exit_code == 0
    again = add_upload(db)
    assert run_uploads(runner, tmp_path).exit_code == 0
    db.session.expire_all()
    run = db.session.query(Run).one()
    assert run.total == 3 and run.files_accepted == 1
    upload = db.session.get(Upload, again)
    assert upload.state == "ingested" and upload.run_id == run.id
    [item] = db.session.query(UploadFile).filter_by(upload_id=again)
    assert (item.status, item.results) == ("accepted", 3)


def test_uploaded_manifest_fills_gaps_and_form_metadata_wins(db, runner, tmp_path):
    manifest = json.dumps(
        {"owner": "from-file", "site": "lab", "start_time": "2026-11-01T08:00:00Z"}
    ).encode()
    add_upload(db, files={"TEST-a.xml": junit(), "testdash-run.json": manifest}, owner="from-form")
    assert run_uploads(runner, tmp_path).exit_code == 0
    run = db.session.query(Run).one()
    assert (run.owner, run.site) == ("from-form", "lab")
    assert run.started_at.isoformat() == "2026-11-01T08:00:00+00:00"
    statuses = {f.path: f.status for f in db.session.query(UploadFile)}
    assert statuses == {"TEST-a.xml": "accepted", "testdash-run.json": "skipped"}


def test_a_volume_server_keeps_its_root_and_its_queue_is_left_alone(db, runner, tmp_path):
    volume = tmp_path / "volume"
    (volume / "run-1").mkdir(parents=True)
    (volume / "run-1" / "TEST-v.xml").write_bytes(junit("v"))
    scanned = runner.invoke(main, ["scan", "--server", "ci", "--root", str(volume)])
    assert scanned.exit_code == 0, scanned.output
    upload = add_upload(db)
    result = run_uploads(runner, tmp_path)
    assert result.exit_code == 0 and "1 deferred" in result.output
    db.session.expire_all()
    assert db.session.get(Upload, upload).state == "pending", (
        "the volume's item is not ours to take"
    )
    assert db.session.query(QueueItem).one().root == str(volume)

    assert runner.invoke(main, ["ingest", "--server", "ci"]).exit_code == 0
    assert "1 ingested" in run_uploads(runner, tmp_path).output
    db.session.expire_all()
    assert db.session.query(Server).one().root == str(volume)
    assert {r.run_dir for r in db.session.query(Run)} == {"run-1", "build-1"}
    assert db.session.get(Upload, upload).attempts == 1


def test_a_claim_left_by_a_killed_engine_is_taken_over_after_a_while(db, runner, tmp_path):
    stale = add_upload(db, run_dir="stale")
    fresh = add_upload(db, run_dir="fresh")
    db.session.get(Upload, stale).state = "ingesting"
    db.session.get(Upload, fresh).state = "ingesting"
    db.session.commit()
    db.session.get(Upload, stale).updated_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    assert run_uploads(runner, tmp_path).exit_code == 0
    db.session.expire_all()
    assert db.session.get(Upload, stale).state == "ingested"
    assert db.session.get(Upload, fresh).state == "ingesting", "another engine may still be on it"


def test_nothing_to_do_is_a_quiet_success(runner, tmp_path):
    result = run_uploads(runner, tmp_path)
    assert result.exit_code == 0 and "0 ingested" in result.output
