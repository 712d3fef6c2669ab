"""Roll-ups kept at ingest: one row per run, one per test, server and UTC day; idempotent."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from testdash_models.models import FlakySeries, FlakyTest, Run, RunRollup, TestDaily

from tests.engine.analytics_trees import ingest, write_run
from tests.engine.test_ingest import invoke

DAY = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def daily(db):
    rows = db.session.scalars(select(TestDaily).order_by(TestDaily.day, TestDaily.test_case_id))
    return [
        (
            r.server_id,
            r.day,
            r.test_case_id,
            r.executions,
            r.failures,
            r.flaky,
            r.timed,
            r.duration_sum,
        )
        for r in rows
    ]


def per_run(db):
    rows = db.session.scalars(select(RunRollup).order_by(RunRollup.run_id))
    return [
        (r.run_id, r.at, r.run_tag, r.total, r.passed, r.failed, r.skipped, r.duration_sum)
        for r in rows
    ]


def test_settled_runs_are_rolled_up_per_run_and_per_test_day(runner, db, tmp_path):
    vol = tmp_path / "vol"
    write_run(vol, "r1", DAY)
    write_run(vol, "r2", DAY.replace(hour=22), b_fails=False)
    write_run(vol, "r3", DAY.replace(day=11))
    ingest(runner, vol)
    runs = per_run(db)
    assert [(r[3], r[4], r[5], r[6]) for r in runs] == [(3, 1, 1, 1), (3, 2, 0, 1), (3, 1, 1, 1)]
    assert all(r[2] == "nightly" and r[7] == 2.25 for r in runs)
    by_day = {}
    for _, day, _, executions, failures, *_ in daily(db):
        by_day.setdefault(day, []).append((executions, failures))
    assert sorted(by_day) == [date(2026, 3, 10), date(2026, 3, 11)]
    # Three tests a day; on the 10th b ran twice and failed once.
    assert sorted(by_day[date(2026, 3, 10)]) == [(2, 0), (2, 0), (2, 1)]
    assert sorted(by_day[date(2026, 3, 11)]) == [(1, 0), (1, 0), (1, 1)]


def test_reingesting_a_changed_file_replaces_the_runs_contribution(runner, db, tmp_path):
    vol = tmp_path / "vol"
    write_run(vol, "r1", DAY)
    write_run(vol, "r2", DAY.replace(hour=12))
    ingest(runner, vol)
    assert sum(row[4] for row in daily(db)) == 2
    run = write_run(vol, "r1", DAY, b_fails=False)
    stat = os.stat(run / "junit.xml")
    os.utime(run / "junit.xml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    ingest(runner, vol)
    after = daily(db)
    assert sum(row[4] for row in after) == 1, "r1's old failure is replaced, not added to"
    assert sum(row[3] for row in after) == 6, "each run still counts once per test"
    assert [r[5] for r in per_run(db)] == [0, 1]
    result = invoke(runner, "rollup", "--all")
    assert result.exit_code == 0, result.output
    assert daily(db) == after, "recomputing from scratch gives the same figures"


def test_rollup_command_fills_runs_ingested_before_the_rollups(runner, db, tmp_path):
    vol = tmp_path / "vol"
    write_run(vol, "r1", DAY)
    write_run(vol, "r2", DAY.replace(day=12), b_fails=False)
    ingest(runner, vol)
    expected_daily, expected_runs = daily(db), per_run(db)
    db.session.execute(delete(TestDaily))
    db.session.execute(delete(RunRollup))
    db.session.commit()
    result = invoke(runner, "rollup")
    assert result.exit_code == 0, result.output
    assert "rolled up 2 runs" in result.output
    assert daily(db) == expected_daily
    assert [r[:1] + r[2:] for r in per_run(db)] == [r[:1] + r[2:] for r in expected_runs]
    assert invoke(runner, "rollup").output.strip() == "rolled up 0 runs, flaky tests of 0 series"


def test_a_run_without_a_start_time_counts_on_the_day_it_was_first_seen(runner, db, tmp_path):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    (run / "junit.xml").write_text(
        '<testsuite name="s" tests="1"><testcase classname="k" name="x" time="1"/></testsuite>'
    )
    ingest(runner, tmp_path / "vol")
    stored = db.session.scalar(select(Run))
    rollup = db.session.get(RunRollup, stored.id)
    assert rollup.at == (stored.started_at or stored.created_at)
    assert [row[1] for row in daily(db)] == [rollup.at.astimezone(UTC).date()]


def flaky_counts(db):
    series = db.session.scalars(select(FlakySeries).order_by(FlakySeries.id))
    tests = db.session.scalars(select(FlakyTest).order_by(FlakyTest.series_id))
    return [(s.id, s.run_tag, s.branch, s.runs, s.infra) for s in series], [
        (t.series_id, t.executions, t.failures, t.flips, t.retries, t.score, t.impact, t.rules)
        for t in tests
    ]


def flip_runs(vol, start, count, **meta):
    """COUNT runs an hour apart from START in which test b fails every second time."""
    for i in range(count):
        write_run(vol, f"r{i}", start + timedelta(hours=i), b_fails=i % 2 == 0, **meta)


def test_settling_counts_the_flaky_tests_of_the_runs_series(runner, db, tmp_path):
    vol = tmp_path / "vol"
    flip_runs(vol, DAY, 6)
    write_run(vol, "other", DAY, b_fails=False, run_tag="smoke", branch=None)
    ingest(runner, vol)
    series, tests = flaky_counts(db)
    assert sorted(s[1:] for s in series) == [("nightly", "main", 6, 0), ("smoke", None, 1, 0)]
    (b,) = tests
    assert b[1:] == (6, 3, 5, 0, 1.0, 6.0, "flips"), "b flipped at every run"
    # A later run that passes, and an earlier run changed: the series is counted again.
    write_run(vol, "r6", DAY + timedelta(hours=6), b_fails=False)
    ingest(runner, vol)
    run = write_run(vol, "r0", DAY, b_fails=False)
    stat = os.stat(run / "junit.xml")
    os.utime(run / "junit.xml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    ingest(runner, vol)
    series, tests = flaky_counts(db)
    assert [t[1:5] for t in tests] == [(7, 2, 4, 0)], "pass pass fail pass fail pass pass"
    result = invoke(runner, "rollup", "--all")
    assert result.exit_code == 0, result.output
    assert "flaky tests of 2 series" in result.output
    assert flaky_counts(db)[1] == tests, "counting from scratch gives the same figures"


def test_rollup_counts_series_never_counted_or_counted_with_other_settings(runner, db, tmp_path):
    vol = tmp_path / "vol"
    flip_runs(vol, DAY, 6)
    ingest(runner, vol)
    expected = flaky_counts(db)
    db.session.execute(delete(FlakySeries))
    db.session.commit()
    assert invoke(runner, "rollup").output.strip() == "rolled up 0 runs, flaky tests of 1 series"
    assert flaky_counts(db) == expected
    runner.app.config["FLAKY_MIN_FLIPS"] = 6
    assert "flaky tests of 1 series" in invoke(runner, "rollup").output
    assert flaky_counts(db)[1] == [], "five flips are not six"
    assert "flaky tests of 0 series" in invoke(runner, "rollup").output
    runner.app.config["FLAKY_OVERRIDES"] = "{not json"
    result = invoke(runner, "rollup")
    assert result.exit_code == 0, "a bad setting is logged; the defaults count"
    assert flaky_counts(db) == expected


def test_a_run_moving_to_another_series_has_its_old_series_counted_again(runner, db, tmp_path):
    vol = tmp_path / "vol"
    flip_runs(vol, DAY, 6)
    ingest(runner, vol)
    run = write_run(vol, "r5", DAY + timedelta(hours=5), b_fails=False, run_tag="weekly")
    stat = os.stat(run / "junit.xml")
    os.utime(run / "junit.xml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    ingest(runner, vol)
    series = {s[1]: s for s in flaky_counts(db)[0]}
    assert series["weekly"][3] == 1
    assert series["nightly"][3] == 5, "its old series is counted again without it"


def test_prune_leaves_the_flaky_counts_as_they_were(runner, db, tmp_path):
    vol = tmp_path / "vol"
    flip_runs(vol, datetime.now(UTC) - timedelta(days=60), 6)
    ingest(runner, vol)
    before = flaky_counts(db)
    assert before[1]
    result = invoke(runner, "prune", "--days", "30")
    assert result.exit_code == 0, result.output
    assert flaky_counts(db) == before
    db.session.execute(update(FlakySeries).values(settings=""))
    db.session.commit()
    invoke(runner, "rollup")
    assert flaky_counts(db)[1] == [], "a recount sees only the results still stored"


def test_a_run_whose_roll_up_fails_is_not_done_and_the_next_ingest_rolls_it_up(
    runner, db, tmp_path, monkeypatch, database_url
):
    # The batch writer (PostgreSQL) settles runs on a thread of its own while the next batch
    # is written; a run's queue item must not be done before its roll-up has committed.
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite settles each run in line (FileWriter): no settler thread")
    from sqlalchemy.exc import OperationalError
    from testdash_engine.persist import batch
    from testdash_models.models import QueueItem

    vol = tmp_path / "vol"
    for i, name in enumerate(["r1", "r2", "r3"]):
        write_run(vol, name, DAY + timedelta(days=i))
    real = batch.roll_up_settled
    failing = {"run": None}

    def roll_up_settled(session, run_ids):
        names = set(session.scalars(select(Run.run_dir).where(Run.id.in_(run_ids))))
        if "r2" in names:
            failing["run"] = "r2"
            raise OperationalError("roll-up", {}, Exception("refused (test)"))
        return real(session, run_ids)

    monkeypatch.setattr(batch, "roll_up_settled", roll_up_settled)
    first = invoke(runner, "run", "--server", "s", "--root", str(vol), "--batch-size", "100")
    assert failing["run"] == "r2" and first.exit_code == 3  # a database failure, said plainly
    db.session.expire_all()
    states = dict(db.session.execute(select(QueueItem.run_dir, QueueItem.state)).all())
    assert states["r2"] != "done"
    assert "r2" not in {
        run_dir
        for run_dir in db.session.scalars(
            select(Run.run_dir).join(RunRollup, RunRollup.run_id == Run.id)
        )
    }

    monkeypatch.setattr(batch, "roll_up_settled", real)
    ingest(runner, vol)
    db.session.expire_all()
    assert len(per_run(db)) == 3
    assert {state for (state,) in db.session.execute(select(QueueItem.state))} == {"done"}
    assert sorted({day for _, day, *_ in daily(db)}) == [
        date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12)
    ]  # fmt: skip
