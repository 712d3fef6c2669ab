"""Parse workers: the same rows as parsing in the engine, and a dead worker loses nothing."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from sqlalchemy import select
from testdash_engine import fanout
from testdash_engine.formats import summarize
from testdash_engine.model import ParseContext
from testdash_engine.worker import Job, ParsePool, WorkerGone
from testdash_models.models import File, Result, Run, TestCase

from tests.engine.test_ingest import invoke, run_totals_match_results
from tests.engine.trees import make_tree

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def database_url(pg_url):
    """Workers feed the PostgreSQL batch writer only."""
    return pg_url


def stored(db):
    """Everything an ingest stored, without ids that depend on the order of writing."""
    names = {f.id: f.full_name for f in db.session.scalars(select(File))}
    results = sorted(
        (names[r.file_id], r.ordinal, r.test_case_id, r.status, r.attempt, r.final, r.flaky,
         r.duration, r.message, r.trace, r.stdout, r.truncated)
        for r in db.session.scalars(select(Result))
    )  # fmt: skip
    files = sorted(
        (f.full_name, f.status, f.reason, f.results, f.tests, f.failed, f.sha256, f.notes,
         f.results_digest, f.started_at, f.start_utc_offset, f.start_assumed_zone,
         f.end_utc_offset, f.end_assumed_zone)
        for f in db.session.scalars(select(File))
    )  # fmt: skip
    runs = sorted(
        (r.run_dir, r.total, r.passed, r.failed, r.errors, r.skipped, r.status, r.started_at,
         r.start_utc_offset, r.start_assumed_zone, r.end_utc_offset, r.end_assumed_zone)
        for r in db.session.scalars(select(Run))
    )  # fmt: skip
    cases = sorted(db.session.execute(select(TestCase.id, TestCase.name)).all())
    return results, files, runs, cases


def ingest_with(app, runner, db, root, workers):
    app.config["PARSE_WORKERS"] = workers
    invoke(runner, "run", "--server", "s", "--root", str(root))
    snapshot = stored(db)
    db.session.rollback()
    return snapshot


def test_workers_store_exactly_what_the_engine_process_stores(
    app, runner, db, tmp_path, junit_report, monkeypatch
):
    sent = []
    real_add = fanout.Fanout.add
    monkeypatch.setattr(
        fanout.Fanout,
        "add",
        lambda self, w, stat, *a: sent.append(stat) or real_add(self, w, stat, *a),
    )
    root = make_tree(tmp_path / "vol", junit_report, runs=3, files=9) / "server0"
    bad = root / "build-001"
    (bad / "broken.xml").write_text("<testsuite><testcase name='x'>")
    (bad / "log.txt").write_text("not a report\n")
    (bad / "copy.xml").write_bytes((bad / "reports" / "TEST-0.xml").read_bytes())
    with_workers = ingest_with(app, runner, db, root, 2)
    assert with_workers[0], "results were stored"
    assert len(sent) == 3 * 9 + 3, "every file went to a worker"
    sent.clear()
    for table in ("results", "test_cases", "files", "runs", "queue", "ingest_jobs"):
        db.session.execute(db.text(f"DELETE FROM {table}"))
    db.session.commit()
    assert ingest_with(app, runner, db, root, 0) == with_workers
    assert sent == []
    run_totals_match_results(db)


def test_the_workers_end_with_the_ingest(app, runner, db, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=8) / "server0"
    app.config["PARSE_WORKERS"] = 2
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    invoke(runner, "run", "--server", "s", "--root", str(root))
    after = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [p for p in after if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_a_dead_worker_breaks_the_pool_with_a_reason(tmp_path, junit_report):
    pool = ParsePool(1)
    try:
        job = Job(str(junit_report), "1\t2\t", ParseContext(), 5000, 1 << 20)
        pool.submit(job)
        first = pool.result()
        assert first.fits and first.counts.results == summarize(junit_report).attempts
        assert first.data.count("\n") == first.counts.results
        os.kill(pool.procs[0].pid, signal.SIGKILL)
        pool.procs[0].wait()
        with pytest.raises(WorkerGone):
            pool.submit(job)
            pool.result()
        assert pool.broken
    finally:
        pool.close()


def test_a_file_larger_than_a_batch_comes_back_unformatted(junit_report):
    pool = ParsePool(1)
    try:
        pool.submit(Job(str(junit_report), "1\t2\t", ParseContext(), 3, 1 << 20))
        assert pool.result().fits is False
    finally:
        pool.close()
