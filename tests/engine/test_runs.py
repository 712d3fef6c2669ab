"""A run seen whole: duplicate files counted once, one test's attempts spread over files."""

from __future__ import annotations

import os
import shutil

from sqlalchemy import select
from testdash_models.models import File, Result, Run

from tests.engine.test_ingest import count, invoke, run_totals_match_results
from tests.engine.trees import expected_counts

SUITE = """<?xml version="1.0" encoding="utf-8"?>
<testsuite name="{suite}" tests="3" timestamp="{when}">{extra}
  <testcase classname="pkg.T" name="a" time="0.1"/>
  <testcase classname="pkg.T" name="b" time="0.2">{b}</testcase>
  <testcase classname="pkg.T" name="c" time="0.3"><skipped/></testcase>
</testsuite>
"""
FAIL = '<failure message="boom">trace</failure>'


def suite(suite="s", when="2024-05-01T10:00:00", b=FAIL, extra=""):
    return SUITE.format(suite=suite, when=when, b=b, extra=extra)


def ingest(runner, vol):
    result = invoke(runner, "run", "--server", "s", "--root", str(vol))
    assert result.exit_code == 0, result.output
    return result


def files_by_name(db):
    return {f.file_name: f for f in db.session.scalars(select(File))}


def test_a_file_copied_twice_in_a_run_counts_once(runner, db, tmp_path, junit_report):
    run = tmp_path / "vol" / "r1"
    (run / "a").mkdir(parents=True)
    (run / "b").mkdir()
    shutil.copy(junit_report, run / "a" / "junit.xml")
    shutil.copy(junit_report, run / "b" / "junit-copy.xml")
    assert ingest(runner, tmp_path / "vol").exit_code == 0, "a duplicate is not a failure"
    files = files_by_name(db)
    first, second = files["junit.xml"], files["junit-copy.xml"]
    assert first.status == "accepted"
    assert second.status == "skipped"
    assert second.reason == "duplicate of r1/a/junit.xml: the same bytes"
    stored = db.session.scalar(select(Run))
    assert stored.total == sum(expected_counts(25, 5).values())
    assert count(db, Result, Result.file_id == second.id) == 0
    run_totals_match_results(db)


def test_the_same_results_in_another_form_count_once(runner, db, tmp_path):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    (run / "junit.xml").write_text(suite())
    # Another producer's layout of the same results: other bytes, the same tests and statuses.
    other = suite(extra='\n  <properties><property name="x" value="1"/></properties>')
    (run / "xunit.xml").write_text(other.replace(' time="0.1"', ' time="0.100"'))
    assert ingest(runner, tmp_path / "vol").exit_code == 0
    files = files_by_name(db)
    assert files["junit.xml"].status == "accepted"
    assert files["xunit.xml"].status == "skipped"
    assert files["xunit.xml"].reason == (
        "duplicate of r1/junit.xml: the same 3 results in another form"
    )
    stored = db.session.scalar(select(Run))
    assert (stored.total, stored.passed, stored.failed, stored.skipped) == (3, 1, 1, 1)


def test_different_statuses_are_not_duplicates(runner, db, tmp_path):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    (run / "one.xml").write_text(suite(suite="one"))
    (run / "two.xml").write_text(suite(suite="two"))  # other suite: other tests
    (run / "three.xml").write_text(suite(suite="one", b=""))  # b passed here
    assert ingest(runner, tmp_path / "vol").exit_code == 0
    assert {f.status for f in files_by_name(db).values()} == {"accepted"}


def test_attempts_of_one_test_in_several_files_make_it_flaky(runner, db, tmp_path):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    # A rerun report written later holds the second attempt of the same tests.
    (run / "first.xml").write_text(suite(when="2024-05-01T10:00:00"))
    (run / "rerun.xml").write_text(suite(when="2024-05-01T10:05:00", b=""))
    assert ingest(runner, tmp_path / "vol").exit_code == 0
    b = db.session.execute(
        select(Result.attempt, Result.status, Result.final, Result.flaky)
        .join(File, File.id == Result.file_id)
        .where(Result.run_id == File.run_id)
        .order_by(Result.attempt)
    ).all()
    by_test = {}
    for row in db.session.scalars(select(Result)):
        by_test.setdefault(row.test_case_id, []).append(row)
    assert len(b) == 6 and len(by_test) == 3
    for rows in by_test.values():
        rows.sort(key=lambda r: r.attempt)
        assert [r.attempt for r in rows] == [1, 2]
        assert [r.final for r in rows] == [False, True]
    flaky = [rows[-1] for rows in by_test.values() if rows[-1].flaky]
    assert len(flaky) == 1 and flaky[0].status == "passed"
    assert [r.status for r in next(v for v in by_test.values() if v[-1].flaky)] == [
        "failed",
        "passed",
    ]
    stored = db.session.scalar(select(Run))
    assert (stored.total, stored.passed, stored.failed, stored.skipped, stored.flaky) == (
        3,
        2,
        0,
        1,
        1,
    )
    assert stored.status == "passed"
    run_totals_match_results(db)


def test_a_changed_rerun_file_is_reconciled_again(runner, db, tmp_path):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    (run / "first.xml").write_text(suite(when="2024-05-01T10:00:00"))
    assert ingest(runner, tmp_path / "vol").exit_code == 0
    assert db.session.scalar(select(Run.failed)) == 1
    # The rerun report appears on a later scan; then it is rewritten with b failing again.
    rerun = run / "rerun.xml"
    rerun.write_text(suite(when="2024-05-01T10:05:00", b=""))
    assert ingest(runner, tmp_path / "vol").exit_code == 0
    db.session.expire_all()
    stored = db.session.scalar(select(Run))
    assert (stored.total, stored.failed, stored.flaky) == (3, 0, 1)
    rerun.write_text(suite(when="2024-05-01T10:05:00", b=FAIL.replace("boom", "again")))
    os.utime(rerun, ns=(1, 10**18))
    assert ingest(runner, tmp_path / "vol").exit_code == 0
    db.session.expire_all()
    stored = db.session.scalar(select(Run))
    assert (stored.total, stored.failed, stored.flaky) == (3, 1, 0)
    finals = db.session.scalars(
        select(Result.message).where(Result.final.is_(True), Result.status == "failed")
    ).all()
    assert finals == ["again"]
    run_totals_match_results(db)


def test_parse_notes_are_kept_on_the_file(runner, db, tmp_path):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    events = [
        '{"Time":"2024-05-01T10:00:00Z","Action":"run","Package":"p","Test":"TestA"}',
        "go: downloading example.com/mod v1.0.0",
        '{"Time":"2024-05-01T10:00:01Z","Action":"pass","Package":"p","Test":"TestA","Elapsed":1}',
        '{"Time":"2024-05-01T10:00:01Z","Action":"pass","Package":"p","Elapsed":1}',
    ]
    (run / "go.json").write_text("\n".join(events) + "\n")
    ingest(runner, tmp_path / "vol")
    stored = files_by_name(db)["go.json"]
    assert stored.status == "accepted" and stored.tests == 1
    assert stored.notes == "1 line(s) that are not go test events ignored (line 2)"


def test_an_ingest_limited_to_a_root_leaves_other_roots_queued(app, db, tmp_path, junit_report):
    from datetime import timedelta

    from testdash_engine import ingest
    from testdash_engine.model import Limits
    from testdash_models.models import QueueItem

    for volume, run in (("volume", "r1"), ("spool", "upload-1")):
        (tmp_path / volume / run).mkdir(parents=True)
        shutil.copy(junit_report, tmp_path / volume / run / f"{volume}.xml")
        ingest.scan_root(db.session(), "s", str(tmp_path / volume), depth=1, ttl=timedelta(hours=1))
    db.session.commit()
    stats = ingest.Ingestor(db.session(), limits=Limits(), batch_size=5000, default_tz="UTC").run(
        "s", root=str(tmp_path / "spool")
    )
    assert stats.runs == 1
    states = dict(db.session.execute(select(QueueItem.root, QueueItem.state)).all())
    assert states == {str(tmp_path / "spool"): "done", str(tmp_path / "volume"): "pending"}


def test_a_test_repeated_in_one_file_becomes_its_attempts(runner, db, tmp_path):
    """Marathon and other retry runners write the same testcase again, each one "final"."""
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    (run / "marathon.xml").write_text(
        '<testsuites><testsuite name="device-1">'
        '<testcase classname="com.A" name="t" time="1"><failure message="flaky">x</failure>'
        '</testcase><testcase classname="com.A" name="u" time="1"/>'
        '<testcase classname="com.A" name="t" time="2"/>'
        "</testsuite></testsuites>"
    )
    ingest(runner, tmp_path / "vol")
    rows = db.session.execute(
        select(Result.ordinal, Result.attempt, Result.status, Result.final, Result.flaky).order_by(
            Result.ordinal
        )
    ).all()
    assert rows == [
        (0, 1, "failed", False, False),
        (1, 1, "passed", True, False),
        (2, 2, "passed", True, True),
    ]
    stored = db.session.scalar(select(Run))
    assert (stored.total, stored.passed, stored.failed, stored.flaky) == (2, 2, 0, 1)
    run_totals_match_results(db)
