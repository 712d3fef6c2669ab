"""Retention: old results go a few runs per transaction; roll-ups, and so trends, stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from testdash_models.models import File, QueueItem, Result, Run, RunRollup, TestDaily
from testdash_web.queries import trends

from tests.engine.analytics_trees import ingest, write_run
from tests.engine.test_ingest import invoke

NOW = datetime.now(UTC).replace(microsecond=0)


def count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def snapshot():
    """Everything the trend pages and rankings show, in two zones."""
    out = []
    for zone in ("UTC", "Pacific/Kiritimati"):
        out.append(trends.series(days=400, zone=ZoneInfo(zone)))
    for kind in trends.KINDS:
        out.append(trends.ranking(kind, days=400))
    return out


def make_history(runner, tmp_path):
    vol = tmp_path / "vol"
    for i, age in enumerate((120, 119, 119, 40, 2)):
        write_run(vol, f"r{i}", NOW - timedelta(days=age, hours=i), b_fails=i % 2 == 0)
    (vol / "r0" / "broken.xml").write_text("<testsuite><testcase")
    ingest(runner, vol)
    return vol


def test_prune_keeps_trends_identical_and_deletes_only_old_results(runner, db, tmp_path):
    make_history(runner, tmp_path)
    before = snapshot()
    assert any(series.points for series in before[0])
    total = count(db, Result)
    result = invoke(runner, "prune", "--days", "30", "--batch-runs", "2", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["runs"] == 4 and stats["transactions"] >= 2, stats
    assert stats["results"] == total - 3
    assert snapshot() == before, "trends and rankings read roll-ups only"
    recent = db.session.scalar(select(Run.id).where(Run.run_dir == "r4"))
    assert count(db, Result) == count(db, Result, Result.run_id == recent) == 3
    assert count(db, RunRollup, RunRollup.pruned_at.is_not(None)) == 4
    assert count(db, Run) == 5, "runs stay, so the runs list and the scanner still know them"
    again = invoke(runner, "prune", "--days", "30", "--json")
    assert json.loads(again.output)["runs"] == 0


def test_prune_rolls_up_a_run_before_deleting_its_results(runner, db, tmp_path):
    make_history(runner, tmp_path)
    before = snapshot()
    db.session.execute(RunRollup.__table__.delete())
    db.session.execute(TestDaily.__table__.delete())
    db.session.commit()
    result = invoke(runner, "prune", "--days", "30", "--json")
    assert json.loads(result.output)["rolled_up"] == 4
    invoke(runner, "rollup")  # the recent run, never pruned
    assert snapshot() == before


def test_per_server_overrides_and_dry_run(runner, db, tmp_path, monkeypatch):
    make_history(runner, tmp_path)
    runner.app.config["RETENTION_SERVER_DAYS"] = "s=0"
    kept = invoke(runner, "prune", "--json")
    assert json.loads(kept.output)["runs"] == 0, "0 days for this server keeps everything"
    runner.app.config["RETENTION_SERVER_DAYS"] = "s=100"
    dry = json.loads(invoke(runner, "prune", "--dry-run", "--json").output)
    assert dry["runs"] == 3 and dry["dry_run"] is True
    assert count(db, RunRollup, RunRollup.pruned_at.is_not(None)) == 0
    runner.app.config["RETENTION_SERVER_DAYS"] = "s=lots"
    bad = invoke(runner, "prune")
    assert bad.exit_code == 2 and "RETENTION_SERVER_DAYS" in bad.output


def test_old_rejected_files_and_finished_queue_items_expire(runner, db, tmp_path):
    make_history(runner, tmp_path)
    assert count(db, File, File.status == "rejected") == 1
    old = NOW - timedelta(days=60)
    db.session.execute(update(File).where(File.status == "rejected").values(updated_at=old))
    db.session.execute(update(QueueItem).values(updated_at=old))
    db.session.commit()
    assert count(db, QueueItem, QueueItem.state == "done") == 5
    result = invoke(runner, "prune", "--days", "0", "--json")
    stats = json.loads(result.output)
    assert (stats["rejected_files"], stats["queue_items"], stats["runs"]) == (1, 5, 0)
    assert count(db, File, File.status == "rejected") == count(db, QueueItem) == 0
