"""The engine end to end through its CLI: scan, ingest, idempotency, bad input."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from sqlalchemy import func, select
from testdash_engine.cli import main
from testdash_models.models import File, IngestJob, QueueItem, Result, Run, Server, TestCase

from tests.engine.trees import expected_counts, junit_by_pytest, make_tree


def invoke(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


def count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def run_totals_match_results(db):
    """Every run's totals equal what its stored final results add up to."""
    for run in db.session.scalars(select(Run)):
        rows = dict(
            db.session.execute(
                select(Result.status, func.count())
                .where(Result.run_id == run.id, Result.final.is_(True))
                .group_by(Result.status)
            ).all()
        )
        assert (run.passed, run.failed, run.errors, run.skipped) == (
            rows.get("passed", 0),
            rows.get("failed", 0),
            rows.get("error", 0),
            rows.get("skipped", 0),
        ), run.run_dir
        assert run.total == sum(rows.values())


def test_run_ingests_every_result_of_a_real_junit_report_once(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=3, files=2)
    result = invoke(runner, "run", "--server", "server0", "--root", str(root / "server0"))
    assert result.exit_code == 0, result.output
    assert "3 runs ingested" in result.output and "6 new" in result.output
    per_file = expected_counts(25, 5)
    assert count(db, Result) == 6 * sum(per_file.values())
    run = db.session.scalar(select(Run).where(Run.run_dir == "build-000"))
    assert (run.passed, run.failed, run.errors, run.skipped) == (
        2 * per_file["passed"],
        2 * per_file["failed"],
        2 * per_file["error"],
        2 * per_file["skipped"],
    )
    assert run.status == "failed" and run.files_accepted == 2
    # two files per run name their tests apart; the catalogue holds each identity once
    assert count(db, TestCase) == 2 * sum(per_file.values())
    run_totals_match_results(db)


def test_manifest_gives_run_metadata_in_utc(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1)
    invoke(runner, "run", "--server", "lab1", "--root", str(root / "server0"))
    run = db.session.scalar(select(Run).where(Run.run_dir == "build-001"))
    assert (run.owner, run.site, run.host, run.run_tag, run.user_tag) == (
        "qa",
        "lab",
        "host0",
        "nightly",
        "u",
    )
    assert (run.build, run.branch, run.commit) == ("1", "main", "abc123")
    assert run.started_at.isoformat() == "2026-11-01T06:00:00+00:00"


def test_rescan_of_an_unchanged_tree_changes_nothing(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=2) / "server0"
    invoke(runner, "run", "--server", "s", "--root", str(root))
    before = (count(db, Result), count(db, File), count(db, Run), count(db, QueueItem))
    again = invoke(runner, "run", "--server", "s", "--root", str(root))
    assert again.exit_code == 0
    assert "0 queued" in again.output and "0 results written" in again.output
    assert (count(db, Result), count(db, File), count(db, Run), count(db, QueueItem)) == before


def test_touched_but_unchanged_file_is_not_reparsed(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=1, files=1) / "server0"
    invoke(runner, "run", "--server", "s", "--root", str(root))
    ids = set(db.session.scalars(select(Result.id)))
    path = root / "build-000" / "reports" / "TEST-0.xml"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    result = invoke(runner, "run", "--server", "s", "--root", str(root))
    assert "1 unchanged" in result.output and "0 results written" in result.output
    assert set(db.session.scalars(select(Result.id))) == ids
    stored = db.session.scalar(select(File))
    db.session.refresh(stored)
    assert stored.mtime_ns == path.stat().st_mtime_ns  # next scan skips it without hashing


def test_changed_file_replaces_its_own_results(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=1, files=2) / "server0"
    invoke(runner, "run", "--server", "s", "--root", str(root))
    reports = root / "build-000" / "reports"
    other_ids = set(
        db.session.scalars(
            select(Result.id)
            .join(File, File.id == Result.file_id)
            .where(File.file_name == "TEST-1.xml")
        )
    )
    junit_by_pytest(tmp_path, "smaller", cases=4, fail_every=2)
    shutil.copy(tmp_path / "smaller.xml", reports / "TEST-0.xml")
    result = invoke(runner, "run", "--server", "s", "--root", str(root))
    assert "1 changed" in result.output
    small = expected_counts(4, 2)
    changed = db.session.scalar(select(File).where(File.file_name == "TEST-0.xml"))
    assert changed.tests == sum(small.values()) and changed.failed == small["failed"]
    assert count(db, Result, Result.file_id == changed.id) == sum(small.values())
    kept = set(
        db.session.scalars(
            select(Result.id)
            .join(File, File.id == Result.file_id)
            .where(File.file_name == "TEST-1.xml")
        )
    )
    assert kept == other_ids
    run_totals_match_results(db)


def test_bad_files_are_rejected_with_reasons_and_the_rest_goes_on(
    runner, db, tmp_path, junit_report
):
    run = tmp_path / "vol" / "build-1"
    run.mkdir(parents=True)
    shutil.copy(junit_report, run / "good.xml")
    (run / "truncated.xml").write_bytes(junit_report.read_bytes()[:300])
    (run / "empty.xml").write_bytes(b"")
    (run / "garbage.bin").write_bytes(bytes(range(256)) * 8)
    (run / "latin1.xml").write_bytes(
        b'<?xml version="1.0" encoding="utf-8"?>\n<testsuite>\n'
        b'<testcase name="caf\xe9"/></testsuite>'
    )
    (run / "bomb.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<testsuite><testcase name="&b;"/></testsuite>'
    )
    (run / "xxe.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<testsuite><testcase name="t"><failure>&x;</failure></testcase></testsuite>'
    )
    (run / "notes.txt").write_text("build finished in 3 minutes\n")
    result = invoke(runner, "run", "--server", "s", "--root", str(tmp_path / "vol"))
    assert result.exit_code == 1, "a Job must show that files were rejected"
    files = {f.file_name: f for f in db.session.scalars(select(File))}
    assert files["good.xml"].status == "accepted"
    for name in ("truncated.xml", "empty.xml", "latin1.xml", "bomb.xml", "xxe.xml"):
        assert files[name].status == "rejected", name
        assert files[name].reason, name
    assert files["truncated.xml"].reason_line is not None
    assert files["latin1.xml"].reason_line == 3
    for name in ("garbage.bin", "notes.txt"):
        assert files[name].status in ("rejected", "skipped") and files[name].reason
    assert not any(
        "root:" in (r.message or "") + (r.trace or "") for r in db.session.scalars(select(Result))
    )
    assert count(db, Result) == sum(expected_counts(25, 5).values())
    listing = invoke(runner, "files", "list", "--rejected")
    assert "truncated.xml" in listing.output and "good.xml" not in listing.output
    # the same bad files do not fail the next run again: they are unchanged
    assert invoke(runner, "run", "--server", "s", "--root", str(tmp_path / "vol")).exit_code == 0
    run_totals_match_results(db)


def test_file_that_vanishes_mid_ingest_is_recorded(runner, db, tmp_path, junit_report, monkeypatch):
    run = tmp_path / "vol" / "build-1"
    run.mkdir(parents=True)
    for name in ("a.xml", "b.xml"):
        shutil.copy(junit_report, run / name)
    from testdash_engine import ingest

    real = ingest.ReportReader

    def vanishing(path, ctx):
        if path.endswith("b.xml") and os.path.exists(path):
            os.unlink(path)
        return real(path, ctx)

    monkeypatch.setattr(ingest, "ReportReader", vanishing)
    result = invoke(runner, "run", "--server", "s", "--root", str(tmp_path / "vol"))
    assert result.exit_code == 1
    files = {f.file_name: f for f in db.session.scalars(select(File))}
    assert files["a.xml"].status == "accepted"
    assert files["b.xml"].status == "rejected" and "No such file" in files["b.xml"].reason


def test_schedule_file_queues_the_articles_runs(runner, db, tmp_path, junit_report):
    runs = []
    for n in range(2):
        run = tmp_path / f"run{n}"
        run.mkdir()
        shutil.copy(junit_report, run / "results.xml")
        runs.append(
            {
                "RUN_DIR": str(run),
                "OWNER": "allyn",
                "SITE": "cork",
                "HOST_MACHINE": "bench7",
                "run_tag": "Regression",
            }
        )
    runs[1].pop("run_tag")
    schedule = tmp_path / "queue_file.json"
    schedule.write_text(json.dumps(runs))
    assert invoke(runner, "scan", "--schedule-file", str(schedule)).exit_code == 0
    items = db.session.scalars(select(QueueItem).order_by(QueueItem.id)).all()
    assert [(q.owner, q.site, q.host, q.run_tag) for q in items] == [
        ("allyn", "cork", "bench7", "Regression"),
        ("allyn", "cork", "bench7", "Development"),
    ]
    assert db.session.scalar(select(Server.name)) == "bench7"
    result = invoke(runner, "ingest")
    assert result.exit_code == 0, result.output
    assert count(db, Run) == 2 and count(db, Result) == 2 * sum(expected_counts(25, 5).values())


def test_bad_schedule_file_is_a_usage_error_not_a_traceback(runner, tmp_path):
    schedule = tmp_path / "queue_file.json"
    schedule.write_text('[{"OWNER": "x"}]')
    result = runner.invoke(main, ["scan", "--schedule-file", str(schedule)])
    assert result.exit_code == 2 and "entry 1 has no RUN_DIR" in result.output


def test_queue_purge_deletes_items_whose_ttl_is_further_than_asked(
    runner, db, tmp_path, junit_report
):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1) / "server0"
    invoke(runner, "scan", "--server", "s", "--root", str(root), "--ttl", "48h")
    invoke(runner, "scan", "--server", "t", "--root", str(root), "--ttl", "2h")
    result = invoke(runner, "queue", "purge", "--ttl-over", "10h")
    assert "purged 2" in result.output
    assert {q.server.name for q in db.session.scalars(select(QueueItem))} == {"t"}


def test_expired_items_are_dropped_not_ingested(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=1, files=1) / "server0"
    invoke(runner, "scan", "--server", "s", "--root", str(root), "--ttl", "0s")
    result = invoke(runner, "ingest")
    assert "1 queue items expired" in result.output
    assert count(db, Result) == 0
    assert db.session.scalar(select(QueueItem.state)) == "expired"


def test_rescan_refreshes_a_pending_item_instead_of_queueing_twice(
    runner, db, tmp_path, junit_report
):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1) / "server0"
    invoke(runner, "scan", "--server", "s", "--root", str(root))
    invoke(runner, "scan", "--server", "s", "--root", str(root))
    assert count(db, QueueItem) == 2


def test_runs_by_depth_without_manifests(runner, db, tmp_path, junit_report):
    for name in ("team-a/job-1", "team-a/job-2", "team-b/job-1"):
        (tmp_path / "vol" / name / "x").mkdir(parents=True)
        shutil.copy(junit_report, tmp_path / "vol" / name / "x" / "r.xml")
    invoke(runner, "run", "--server", "s", "--root", str(tmp_path / "vol"), "--depth", "2")
    assert sorted(db.session.scalars(select(Run.run_dir))) == [
        "team-a/job-1",
        "team-a/job-2",
        "team-b/job-1",
    ]


def test_naive_timestamps_use_the_servers_zone(runner, db, tmp_path):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    (run / "t.xml").write_text(
        '<testsuite name="s" timestamp="2026-06-01T12:00:00">'
        '<testcase classname="c" name="n" time="2"/></testsuite>'
    )
    invoke(
        runner,
        "run",
        "--server",
        "s",
        "--root",
        str(tmp_path / "vol"),
        "--timezone",
        "Europe/Dublin",
    )
    run_row = db.session.scalar(select(Run))
    assert run_row.started_at.isoformat() == "2026-06-01T11:00:00+00:00"
    assert run_row.duration == 2.0


def test_status_json_counts_everything(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1) / "server0"
    (root / "build-000" / "reports" / "bad.xml").write_text("<testsuite>")
    invoke(runner, "run", "--server", "s", "--root", str(root))
    data = json.loads(invoke(runner, "status", "--json").output)
    per_file = expected_counts(25, 5)
    assert data["runs"] == 2
    assert data["files"] == {"accepted": 2, "rejected": 1}
    assert data["results"] == {k: 2 * v for k, v in per_file.items()}
    assert data["queue"] == {"done": 2}
    assert data["servers"][0]["name"] == "s"
    job = db.session.scalar(select(IngestJob))
    assert (job.outcome, job.files_seen, job.files_new, job.files_rejected) == ("partial", 3, 2, 1)
    assert job.results_written == 2 * sum(per_file.values())


def test_missing_root_is_a_clear_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["run", "--server", "s", "--root", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a readable directory" in result.output


def test_run_directory_gone_before_ingest_fails_that_item_only(runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1) / "server0"
    invoke(runner, "scan", "--server", "s", "--root", str(root))
    shutil.rmtree(root / "build-000")
    result = invoke(runner, "ingest")
    assert result.exit_code == 1
    states = {q.run_dir: (q.state, q.last_error) for q in db.session.scalars(select(QueueItem))}
    assert states["build-001"][0] == "done"
    assert states["build-000"][0] == "failed" and "gone" in states["build-000"][1]


@pytest.mark.parametrize("status_cmd", [["status"], ["queue", "list"], ["files", "list"]])
def test_listing_commands_work_on_an_empty_database(runner, status_cmd):
    assert invoke(runner, *status_cmd).exit_code == 0


def test_awkward_text_round_trips_exactly_through_the_database(runner, db, tmp_path):
    message = 'tab\there back\\slash \\N not null, CR\r\nLF\n"quotes" <b> ünïcödé 🚀'
    trace = "line 1\n\tline 2 \\t literal\nend\\"
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    from xml.sax.saxutils import escape, quoteattr

    stdout = escape("out with a backslash at the end\\")
    (run / "t.xml").write_text(
        f'<testsuite name="s"><testcase classname="c" name="n\\t1">'
        f"<failure message={quoteattr(message)}>{escape(trace)}</failure>"
        f"<system-out>{stdout}</system-out></testcase></testsuite>",
        encoding="utf-8",
    )
    assert invoke(runner, "run", "--server", "s", "--root", str(tmp_path / "vol")).exit_code == 0
    stored = db.session.scalar(select(Result))
    # XML normalises CR LF in attribute values to spaces; compare with what the parser gives
    from testdash_engine.formats import ReportReader

    parsed = next(iter(ReportReader(str(run / "t.xml"))))
    assert (stored.message, stored.trace, stored.stdout) == (
        parsed.message,
        parsed.trace,
        parsed.stdout,
    )
    assert stored.trace == trace
    assert db.session.scalar(select(TestCase.name)) == "n\\t1"


def test_many_small_files_and_a_file_larger_than_a_batch(runner, db, tmp_path, junit_report):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    for n in range(12):  # twelve distinct files: each a suite of its own
        data = junit_report.read_text().replace('name="pytest"', f'name="pytest-{n}"')
        (run / f"small-{n}.xml").write_text(data.replace('classname="', f'classname="m{n}.'))
    cases = "".join(f'<testcase classname="big" name="t{n}"/>' for n in range(700))
    (run / "big.xml").write_text(f'<testsuite name="big">{cases}</testsuite>')
    result = invoke(
        runner, "run", "--server", "s", "--root", str(tmp_path / "vol"), "--batch-size", "250"
    )
    assert result.exit_code == 0, result.output
    per_file = sum(expected_counts(25, 5).values())
    assert count(db, Result) == 12 * per_file + 700
    big = db.session.scalar(select(File).where(File.file_name == "big.xml"))
    assert big.tests == 700 and count(db, Result, Result.file_id == big.id) == 700
    ordinals = sorted(db.session.scalars(select(Result.ordinal).where(Result.file_id == big.id)))
    assert ordinals == list(range(700))
    run_totals_match_results(db)


def test_bad_manifest_is_recorded_and_the_run_still_ingested_once(
    runner, db, tmp_path, junit_report
):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    shutil.copy(junit_report, run / "a.xml")
    (run / "testdash-run.json").write_text("{not json")
    first = invoke(runner, "run", "--server", "s", "--root", str(tmp_path / "vol"))
    assert first.exit_code == 1
    manifest = db.session.scalar(select(File).where(File.file_name == "testdash-run.json"))
    assert manifest.status == "rejected" and "testdash-run.json" in manifest.reason
    assert count(db, Result) == sum(expected_counts(25, 5).values())
    again = invoke(runner, "run", "--server", "s", "--root", str(tmp_path / "vol"))
    assert again.exit_code == 0 and "0 queued" in again.output


def test_a_changed_file_then_a_new_run_in_one_ingest(runner, db, tmp_path, junit_report):
    """The writer thread must not touch the stored file's row after the run committed."""
    root = make_tree(tmp_path / "vol", junit_report, runs=1, files=2) / "server0"
    invoke(runner, "run", "--server", "s", "--root", str(root))
    junit_by_pytest(tmp_path, "smaller", cases=4, fail_every=2)
    shutil.copy(tmp_path / "smaller.xml", root / "build-000" / "reports" / "TEST-0.xml")
    shutil.copytree(root / "build-000", root / "build-001")
    result = invoke(runner, "run", "--server", "s", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "1 changed" in result.output and "2 runs ingested" in result.output
    run_totals_match_results(db)
