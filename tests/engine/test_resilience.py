"""Real engine processes on real PostgreSQL: concurrency, SIGKILL, a database that goes away."""

from __future__ import annotations

import pathlib
import random
import signal
import subprocess
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.engine.trees import ENGINE, engine_env

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


def synthetic_tree(
    root: pathlib.Path, servers: int, runs: int, files: int, cases: int
) -> pathlib.Path:
    """Quick JUnit files (sizes chosen so an ingest takes a few seconds)."""
    for s in range(servers):
        for r in range(runs):
            run = root / f"srv{s}" / f"run{r:03d}"
            run.mkdir(parents=True)
            for f in range(files):
                body = []
                for c in range(cases):
                    inner = ""
                    if (c + r + f) % 7 == 0:
                        inner = f'<failure message="expected {c} got {c + 1}">trace {"x" * 200}</failure>'
                    elif c % 11 == 0:
                        inner = "<skipped/>"
                    body.append(
                        f'<testcase classname="pkg.C{f}" name="test_{c}" time="0.01">{inner}</testcase>'
                    )
                (run / f"TEST-{f}.xml").write_text(
                    f'<testsuite name="S{f}" timestamp="2026-11-01T10:00:00Z">{"".join(body)}</testsuite>'
                )
    return root


def engine(url: str, tmp_path: pathlib.Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*ENGINE, *args],
        env=engine_env(url, tmp_path / "instance"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def run_engine(url: str, tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    proc = engine(url, tmp_path, *args)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def scan_all(url: str, tmp_path: pathlib.Path, root: pathlib.Path) -> None:
    for server in sorted(p.name for p in root.iterdir()):
        done = run_engine(url, tmp_path, "scan", "--server", server, "--root", str(root / server))
        assert done.returncode == 0, done.stderr


def wait_for_files(url: str, proc: subprocess.Popen, at_least: int, timeout: float = 60) -> None:
    """Wait until the engine has committed AT_LEAST file rows (so a cut lands mid-ingest)."""
    engine_ = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            with engine_.connect() as conn:
                if conn.scalar(sa.text("SELECT count(*) FROM files")) >= at_least:
                    return
            time.sleep(0.02)
    finally:
        engine_.dispose()
    raise AssertionError(f"the engine ended or stalled before {at_least} files were stored")


def snapshot(url: str) -> dict:
    """What a user would see: every file's status and counts, every run's totals, every result row."""
    engine_ = sa.create_engine(url)
    with engine_.connect() as conn:
        files = conn.execute(
            sa.text(
                "SELECT s.name, f.full_name, f.status, f.tests, f.passed, f.failed, f.errors, f.skipped, f.results "
                "FROM files f JOIN runs r ON r.id = f.run_id JOIN servers s ON s.id = r.server_id"
            )
        ).all()
        runs = conn.execute(
            sa.text(
                "SELECT s.name, r.run_dir, r.status, r.total, r.passed, r.failed, r.errors, r.skipped, "
                "r.files_accepted, r.files_rejected FROM runs r JOIN servers s ON s.id = r.server_id"
            )
        ).all()
        results = conn.execute(
            sa.text(
                "SELECT s.name, f.full_name, res.ordinal, res.status, t.name FROM results res "
                "JOIN files f ON f.id = res.file_id JOIN runs r ON r.id = res.run_id "
                "JOIN servers s ON s.id = r.server_id JOIN test_cases t ON t.id = res.test_case_id"
            )
        ).all()
    engine_.dispose()
    return {"files": sorted(files), "runs": sorted(runs), "results": sorted(results)}


def assert_consistent(url: str) -> None:
    """No half-written file: run totals and file counts equal the rows actually stored."""
    engine_ = sa.create_engine(url)
    with engine_.connect() as conn:
        bad_files = conn.execute(
            sa.text(
                "SELECT f.full_name FROM files f LEFT JOIN results r ON r.file_id = f.id "
                "GROUP BY f.id HAVING count(r.id) <> f.results"
            )
        ).all()
        bad_runs = conn.execute(
            sa.text(
                "SELECT r.run_dir FROM runs r LEFT JOIN results x ON x.run_id = r.id AND x.final "
                "GROUP BY r.id HAVING count(x.id) <> r.total "
                "OR count(x.id) FILTER (WHERE x.status = 'failed') <> r.failed"
            )
        ).all()
        duplicates = conn.execute(
            sa.text(
                "SELECT file_id, ordinal FROM results GROUP BY file_id, ordinal HAVING count(*) > 1"
            )
        ).all()
    engine_.dispose()
    assert bad_files == [] and bad_runs == [] and duplicates == []


def test_two_ingest_processes_on_one_queue_store_each_result_once(make_pg_database, tmp_path):
    root = synthetic_tree(tmp_path / "vol", servers=3, runs=6, files=3, cases=150)
    reference, shared = make_pg_database(), make_pg_database()
    scan_all(reference, tmp_path, root)
    assert run_engine(reference, tmp_path, "ingest").returncode == 0
    scan_all(shared, tmp_path, root)
    first, second = engine(shared, tmp_path, "ingest"), engine(shared, tmp_path, "ingest")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    assert_consistent(shared)
    assert snapshot(shared) == snapshot(reference)
    assert len(snapshot(shared)["results"]) == 3 * 6 * 3 * 150


def test_engine_killed_at_random_points_then_rerun_equals_a_clean_ingest(
    make_pg_database, tmp_path
):
    root = synthetic_tree(tmp_path / "vol", servers=2, runs=8, files=4, cases=300)
    reference, victim = make_pg_database(), make_pg_database()
    scan_all(reference, tmp_path, root)
    assert run_engine(reference, tmp_path, "ingest").returncode == 0
    scan_all(victim, tmp_path, root)
    rng = random.Random(20261124)
    stored = 0
    for _ in range(5):
        proc = engine(victim, tmp_path, "ingest")
        stored += rng.randint(1, 8)  # each round a few more files in, then the kill
        wait_for_files(victim, proc, stored)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert_consistent(victim)
    finish = run_engine(victim, tmp_path, "ingest")
    assert finish.returncode == 0, finish.stderr
    assert_consistent(victim)
    assert snapshot(victim) == snapshot(reference)


def test_database_gone_mid_ingest_exits_3_and_the_next_run_completes(
    make_pg_database, pg_server_url, tmp_path
):
    root = synthetic_tree(tmp_path / "vol", servers=1, runs=20, files=4, cases=300)
    reference, victim = make_pg_database(), make_pg_database()
    scan_all(reference, tmp_path, root)
    assert run_engine(reference, tmp_path, "ingest").returncode == 0
    scan_all(victim, tmp_path, root)
    name = make_url(victim).database
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    proc = engine(victim, tmp_path, "ingest", "--batch-size", "500")
    wait_for_files(victim, proc, 3)
    with admin.connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": name},
        )
    out, err = proc.communicate(timeout=120)
    with admin.connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
    admin.dispose()
    assert proc.returncode == 3, err
    assert "database unavailable" in err and "Traceback" not in err
    assert_consistent(victim)
    finish = run_engine(victim, tmp_path, "ingest")
    assert finish.returncode == 0, finish.stderr
    assert snapshot(victim) == snapshot(reference)
