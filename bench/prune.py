"""Retention under load: prune half of 10 million results while the dashboard is being read.

Copies the database bench/web.py loaded (``bench_web``, kept with ``--keep``) to
``bench_prune`` (``CREATE DATABASE ... TEMPLATE``), serves it with gunicorn and the project's
config, measures the latency of a set of pages with nothing else running, then runs
``testdash-engine prune`` with a cutoff that takes about half of the results (the median
run's age, or ``--days``) and measures the same pages, one request after another, for as
long as the prune runs. Reports the prune's figures (results deleted, transactions, wall
time, rows/s) and p50/p95/max of the pages before and during it.

    uv run python bench/web.py --keep --repeat 0        # load bench_web once (if not yet)
    uv run python bench/prune.py                         # copy, serve, measure, prune
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web import DBNAME, OUT_DIR, Client, gunicorn, percentiles, postgres  # noqa: E402

TARGET = "bench_prune"
TARGET_P95_MS = 150.0


def copy_database(dsn: str) -> float:
    """bench_prune as a copy of bench_web; returns seconds."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    start = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {TARGET}")
        cur.execute(f"CREATE DATABASE {TARGET} TEMPLATE {DBNAME}")
    conn.close()
    return time.perf_counter() - start


def pick(dsn: str) -> tuple[list[str], int, int]:
    """The pages to read, the cutoff in days that takes about half of the results, the total."""
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM servers ORDER BY name LIMIT 1")
        server = cur.fetchone()[0]
        cur.execute(
            "SELECT max(r.id) FROM runs r JOIN servers s ON s.id = r.server_id"
            " WHERE s.name = %s AND r.total < 1000",
            (server,),
        )
        run_id = cur.fetchone()[0]
        cur.execute(
            "SELECT test_case_id FROM results WHERE run_id = %s AND final ORDER BY id LIMIT 1",
            (run_id,),
        )
        test_id = cur.fetchone()[0]
        cur.execute(
            "SELECT extract(epoch FROM now() - percentile_disc(0.5) WITHIN GROUP"
            " (ORDER BY started_at)) / 86400 FROM runs"
        )
        days = round(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM results")
        total = cur.fetchone()[0]
    conn.close()
    pages = [
        "/",
        f"/runs?server={server}&status=failed",
        f"/runs/{run_id}",
        f"/tests/{test_id}",
        f"/api/v1/runs?server={server}",
        f"/api/v1/tests/{test_id}/history",
        "/trends",
    ]
    return pages, days, total


def figures(times: list[float]) -> dict[str, float]:
    """p50, p95 and max of TIMES (ms), and how many."""
    return {"requests": len(times), **percentiles(times), "max_ms": max(times)}


def read(port: int, pages: list[str], until: Any) -> tuple[dict[str, list[float]], int]:
    """GET PAGES round-robin on one connection until UNTIL() is true; times per page, errors."""
    client = Client(port)
    times: dict[str, list[float]] = {page: [] for page in pages}
    errors = 0
    i = 0
    while not until(i):
        page = pages[i % len(pages)]
        start = time.perf_counter()
        status, _ = client.get(page)
        times[page].append((time.perf_counter() - start) * 1000)
        errors += status != 200
        i += 1
    client.close()
    return times, errors


def main(argv: list[str] | None = None) -> None:
    """Copy, serve, measure at rest, prune while measuring, report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, help="Prune cutoff (default: the median run's age).")
    p.add_argument("--rounds", type=int, default=10, help="Rounds of every page at rest.")
    p.add_argument("--batch-runs", type=int, help="The prune's runs per transaction.")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    p.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "testdash-bench-web"
    )
    beside = Path(sys.executable).parent / "testdash-engine"
    p.add_argument("--engine", default=str(beside) if beside.exists() else "testdash-engine")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.keep = True  # the embedded server's data is bench/web.py's kept one: never delete it
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with postgres(args) as pg:
        copy_s = copy_database(pg.dsn("postgres"))
        print(f"copied {DBNAME} to {TARGET} in {copy_s:.0f} s", flush=True)
        pages, days, total = pick(pg.dsn(TARGET))
        days = args.days or days
        env = {
            **os.environ,
            "FLASK_CONFIG": "production",
            "DATABASE_URL": pg.sqlalchemy_url(TARGET),
            "SECRET_KEY": "bench-only",
            "METRICS_PORT": "0",
            "PAGE_CACHE_SECONDS": "0",  # every request reads the database
            "TESTDASH_INSTANCE_PATH": str(args.workdir / "instance"),
        }
        args.workdir.mkdir(parents=True, exist_ok=True)
        with gunicorn("testdash_web:create_app()", env, args.workdir / "gunicorn.log") as port:
            read(port, pages, lambda i: i >= len(pages))  # warm-up
            rest, rest_errors = read(port, pages, lambda i: i >= args.rounds * len(pages))
            cmd = [args.engine, "--config", "production", "prune", "--days", str(days), "--json"]
            cmd += ["--batch-runs", str(args.batch_runs)] if args.batch_runs else []
            print(f"pruning: {' '.join(cmd[1:])} ({total:,} results before)", flush=True)
            t0 = time.perf_counter()
            prune = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
            during, during_errors = read(port, pages, lambda i: prune.poll() is not None)
            out, _ = prune.communicate()
            prune_s = time.perf_counter() - t0
        if prune.returncode != 0:
            sys.exit(f"prune exited {prune.returncode}: {out}")
        stats = json.loads(out)
        conn = psycopg2.connect(pg.dsn(TARGET))
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM results")
            left = cur.fetchone()[0]
        conn.close()
        pg.drop(TARGET)
    result = {
        "started": started,
        "days": days,
        "results_before": total,
        "results_after": left,
        "prune": stats,
        "prune_seconds": prune_s,
        "deleted_per_second": (total - left) / prune_s,
        "at_rest": {"all": figures(sum(rest.values(), [])), "errors": rest_errors},
        "during": {"all": figures(sum(during.values(), [])), "errors": during_errors},
        "pages_at_rest": {page: figures(t) for page, t in rest.items() if t},
        "pages_during": {page: figures(t) for page, t in during.items() if t},
    }
    OUT_DIR.mkdir(exist_ok=True)
    out_path = args.out or OUT_DIR / f"prune-{started.replace(':', '')}.json"
    out_path.write_text(json.dumps(result, indent=2))
    print(
        f"pruned {total - left:,} of {total:,} results (cutoff {days} days) in {prune_s:.1f} s,"
        f" {result['deleted_per_second']:,.0f} results/s, {stats.get('transactions')} transactions"
    )
    for label, key in (("at rest", "pages_at_rest"), ("during prune", "pages_during")):
        print(f"  {label}:")
        for page, row in result[key].items():
            ok = "ok" if row["p95_ms"] < TARGET_P95_MS else "MISSED"
            print(
                f"    {page:<48} n {row['requests']:4d}  p50 {row['p50_ms']:7.1f}"
                f"  p95 {row['p95_ms']:7.1f}  max {row['max_ms']:7.1f} ms  {ok}"
            )
    for label in ("at_rest", "during"):
        row = result[label]["all"]
        print(
            f"  all pages {label:<8} n {row['requests']:5d}  p50 {row['p50_ms']:6.1f}"
            f"  p95 {row['p95_ms']:6.1f}  max {row['max_ms']:7.1f} ms,"
            f" non-200: {result[label]['errors']}"
        )
    print(f"\nevery figure: {out_path}")


if __name__ == "__main__":
    main()
