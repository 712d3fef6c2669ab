"""The web benchmark's database: millions of results generated inside PostgreSQL.

Everything is made with ``generate_series`` and ``INSERT ... SELECT`` (no app, no client
round trip per row), deterministically: the same shape gives the same rows. The schema
comes from the project's migrations (``testdash-engine db upgrade``); the results table's
secondary indexes and the trigram index are dropped during the load and rebuilt from
their own definitions afterwards, then ``VACUUM ANALYZE``.

Shape: SERVERS servers, RUNS runs spread evenly over them and over a year; each server
has RUNS / SERVERS / RUNS_PER_TAG run tags, and the runs of one server and tag share a
catalogue of CASES test cases (its suite); a quarter of the runs fail, and in those a
fifth of the cases fail (4/5 ``failed``, 1/5 ``error``) with a message, a trace and
output: 5 % of all results. The server's newest run has BIG_CASES cases of its own
catalogue (the run-detail figure). Test cases are named like ``test_cancel_refund``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import psycopg2
from testdash_models.flaky import FlakySettings

VERBS = ("create", "update", "delete", "list", "get", "cancel", "retry", "export", "import", "sync")
NOUNS = (
    "invoice",
    "refund",
    "customer",
    "order",
    "payment",
    "ledger",
    "account",
    "shipment",
    "coupon",
    "report",
)
PRODUCTS = ("billing", "shop", "crm", "payments", "logistics")
KINDS = ("nightly", "smoke", "regression", "integration", "perf")
AREAS = ("api", "ui", "db", "auth", "search", "cache", "queue", "mail", "pdf", "sso")
FILE_CASES = 50  # cases per result file
META_TABLE = "bench_web_shape"


@dataclass(frozen=True)
class Shape:
    """How much data and of what form."""

    servers: int = 20
    runs: int = 100_000
    cases: int = 100
    runs_per_tag: int = 100
    big_cases: int = 5_000

    @property
    def tags_per_server(self) -> int:
        """Run tags per server (each with its own catalogue)."""
        return max(1, self.runs // self.servers // self.runs_per_tag)

    @property
    def results(self) -> int:
        """Rows in results."""
        return (self.runs - 2) * self.cases + 2 * self.big_cases

    @property
    def big_run(self) -> int:
        """The id of the run with BIG_CASES cases: the newest run of the first server."""
        return (self.runs // self.servers - 1) * self.servers + 1

    @property
    def big_base(self) -> int:
        """The run before it on the same server, as big: the two runs compared."""
        return self.big_run - self.servers

    @property
    def big_runs(self) -> str:
        """Both big runs' ids, for SQL ``IN (...)``."""
        return f"{self.big_base}, {self.big_run}"


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _steps(shape: Shape) -> list[tuple[str, str]]:
    """(label, SQL) in order; the results insert is split per server for progress."""
    per_server = shape.runs // shape.servers
    tags = shape.tags_per_server
    big_group = shape.servers * tags
    verbs, nouns = _array(VERBS), _array(NOUNS)
    # A stable 64-bit id like the engine's hash of the identity.
    tc_id = "('x' || substr(md5(c.grp || ':' || c.o), 1, 16))::bit(64)::bigint"

    def tag(t: str) -> str:
        """The run tag of tag number T (an SQL expression), e.g. ``api-nightly-0``."""
        return (
            f"({_array(AREAS)})[(({t}) % 10) + 1] || '-'"
            f" || ({_array(KINDS)})[((({t}) / 10) % 5) + 1]"
            f" || '-' || (({t}) / 50)"
        )

    steps = [
        (
            "servers",
            f"""
            INSERT INTO servers (id, name, root, timezone, created_at, last_scan_at,
                                 last_ingest_at, last_success_at)
            SELECT s, format('server-%s', lpad(s::text, 2, '0')), format('/results/server-%s', s),
                   'UTC', now() - interval '400 days', now(), now(),
                   -- the last server is stale: its ingest last succeeded three days ago
                   CASE WHEN s = {shape.servers} THEN now() - interval '3 days' ELSE now() END
            FROM generate_series(1, {shape.servers}) s""",
        ),
        (
            "catalogue",
            f"""
            CREATE UNLOGGED TABLE bench_catalogue AS
            SELECT c.grp, c.o, {tc_id} AS id,
                   CASE WHEN c.grp = {big_group} THEN 'com.acme.big.suite'
                        ELSE ({_array(PRODUCTS)})[((c.grp / {tags}) % 5) + 1] || '.'
                             || replace({tag(f"c.grp % {tags}")}, '-', '_') END AS suite,
                   'com.acme.' || ({_array(PRODUCTS)})[((c.grp / {tags}) % 5) + 1] || '.'
                     || initcap(({nouns})[((c.o / 10) % 10) + 1]) || (c.o / 100) || 'Test'
                     AS classname,
                   'test_' || ({verbs})[(c.o % 10) + 1] || '_' || ({nouns})[((c.o / 10) % 10) + 1]
                     || CASE WHEN c.o >= 100 THEN '_' || (c.o / 100) ELSE '' END AS name
            FROM (SELECT g AS grp, o FROM generate_series(0, {big_group - 1}) g,
                       generate_series(0, {shape.cases - 1}) o
                  UNION ALL
                  SELECT {big_group}, o FROM generate_series(0, {shape.big_cases - 1}) o) c""",
        ),
        (
            "test_cases",
            """
            INSERT INTO test_cases (id, suite, classname, name, created_at)
            SELECT DISTINCT ON (id) id, suite, classname, name, now() - interval '400 days'
            FROM bench_catalogue ORDER BY id""",
        ),
        (
            "runs",
            f"""
            INSERT INTO runs (id, server_id, run_dir, owner, site, host, run_tag, user_tag, build,
                              branch, commit, started_at, finished_at, duration, status, total,
                              passed, failed, errors, skipped, flaky, files_accepted,
                              files_rejected, created_at, updated_at)
            SELECT i, s + 1, {tag("t")} || '/' || (1000 + k), 'team-' || (t % 8),
                   (ARRAY['dublin', 'austin', 'pune', 'berlin'])[(s % 4) + 1],
                   format('host-%s-%s', s, k % 4), {tag("t")},
                   CASE WHEN k % 20 = 0 THEN 'release-candidate' END, (1000 + k)::text,
                   CASE WHEN k % 5 = 0 THEN 'release/1.' || (k % 7) ELSE 'main' END,
                   md5(i::text) || substr(md5(k::text), 1, 8), started,
                   started + interval '1 second' * (300 + k % 600), 300 + k % 600,
                   'passed', 0, 0, 0, 0, 0, 0, 0, 0, started, started
            FROM (SELECT i, (i - 1) % {shape.servers} AS s, (i - 1) / {shape.servers} AS k,
                         ((i - 1) / {shape.servers}) % {tags} AS t,
                         date_trunc('minute', now())
                           - interval '105 minutes' * ({per_server - 1} - (i - 1) / {shape.servers})
                           - interval '3 minutes' * ((i - 1) % {shape.servers}) AS started
                  FROM generate_series(1, {per_server * shape.servers}) i) r""",
        ),
    ]
    # Which catalogue a run uses: its server and tag, or the big one.
    group = (
        f"CASE WHEN r.id IN ({shape.big_runs}) THEN {big_group}"
        f" ELSE (r.server_id - 1) * {tags} + ((r.id - 1) / {shape.servers}) % {tags} END"
    )
    cases = f"CASE WHEN r.id IN ({shape.big_runs}) THEN {shape.big_cases} ELSE {shape.cases} END"
    steps.append(
        (
            "files",
            f"""
            INSERT INTO files (id, run_id, created, updated_at, run_dir, file_path, file_name,
                               full_name, file_type, file_size, mtime_ns, sha256, format, status,
                               reason, reason_line, results, tests, passed, failed, errors,
                               skipped, flaky, started_at, finished_at)
            SELECT r.id * 128 + f, r.id, r.started_at, r.started_at, r.run_dir, 'reports', fname,
                   r.run_dir || '/reports/' || fname, 'xml', 40000 + f * 17, 0,
                   md5(r.id || ':' || f) || md5(f || ':' || r.id),
                   CASE WHEN f = 127 THEN NULL ELSE 'junit' END,
                   CASE WHEN f = 127 THEN 'rejected' ELSE 'accepted' END,
                   CASE WHEN f = 127 THEN 'not well-formed (invalid token)' END,
                   CASE WHEN f = 127 THEN 1 END, 0, 0, 0, 0, 0, 0, 0, r.started_at, r.finished_at
            FROM runs r,
                 LATERAL (SELECT f FROM generate_series(0, ({cases} - 1) / {FILE_CASES}) f
                          UNION ALL SELECT 127 WHERE r.id % 1000 = 0) fs,
                 LATERAL (SELECT CASE WHEN f = 127 THEN 'TEST-broken.xml'
                                      ELSE format('TEST-com.acme.F%sTest.xml',
                                                  lpad(f::text, 4, '0'))
                                 END AS fname) n""",
        )
    )
    trace = (
        "repeat('\tat com.acme.' || c.classname || '.' || c.name || '(' || c.classname"
        " || '.java:' || (40 + c.o % 50) || ')' || chr(10), 12)"
    )
    for server in range(1, shape.servers + 1):
        steps.append(
            (
                f"results server {server}/{shape.servers}",
                f"""
                INSERT INTO results (run_id, file_id, test_case_id, ordinal, status, attempt,
                                     final, flaky, duration, started_at, message, type, trace,
                                     stdout, truncated)
                SELECT x.run_id, x.run_id * 128 + x.o / {FILE_CASES}, c.id, x.o % {FILE_CASES},
                       x.status, 1, true, false,
                       (abs(hashint8(x.run_id * 7919 + x.o)) % 2000) / 1000.0,
                       x.started_at + interval '2 seconds' * x.o,
                       CASE WHEN x.bad THEN format(
                            'AssertionError: expected <%s> but was <%s> in %s',
                            x.o % 7, x.run_id % 5, c.name) END,
                       CASE WHEN x.status = 'failed' THEN 'java.lang.AssertionError'
                            WHEN x.status = 'error' THEN 'java.lang.IllegalStateException' END,
                       CASE WHEN x.bad
                            THEN 'java.lang.AssertionError: expected' || chr(10) || {trace} END,
                       CASE WHEN x.bad
                            THEN repeat('DEBUG ' || c.classname || ' pool ready' || chr(10), 8) END,
                       0
                FROM (SELECT r.id AS run_id, r.started_at, o, g.grp,
                             CASE WHEN o % 33 = 7 THEN 'skipped'
                                  WHEN NOT r_bad OR abs(hashint8(r.id * 100003 + o)) % 100 >= 20
                                  THEN 'passed'
                                  WHEN abs(hashint8(r.id * 100003 + o)) % 5 = 0 THEN 'error'
                                  ELSE 'failed' END AS status,
                             r_bad AND o % 33 <> 7
                               AND abs(hashint8(r.id * 100003 + o)) % 100 < 20 AS bad
                      FROM runs r,
                           LATERAL (SELECT abs(hashint8(r.id)) % 100 < 25
                                             OR r.id IN ({shape.big_runs}) AS r_bad,
                                           {group} AS grp) g,
                           LATERAL generate_series(0, {cases} - 1) o
                      WHERE r.server_id = {server}) x
                JOIN bench_catalogue c ON c.grp = x.grp AND c.o = x.o""",
            )
        )
    steps += [
        (
            "run and file counts",
            f"""
            WITH n AS (
                SELECT run_id, count(*) AS total,
                       count(*) FILTER (WHERE status = 'passed') AS passed,
                       count(*) FILTER (WHERE status = 'failed') AS failed,
                       count(*) FILTER (WHERE status = 'error') AS errors,
                       count(*) FILTER (WHERE status = 'skipped') AS skipped
                FROM results GROUP BY run_id)
            UPDATE runs r SET total = n.total, passed = n.passed, failed = n.failed,
                   errors = n.errors, skipped = n.skipped,
                   status = CASE WHEN n.failed + n.errors > 0 THEN 'failed' ELSE 'passed' END,
                   files_accepted = ({cases} + {FILE_CASES - 1}) / {FILE_CASES},
                   files_rejected = (r.id % 1000 = 0)::int
            FROM n WHERE n.run_id = r.id""",
        ),
        (
            "file counts",
            """
            WITH n AS (
                SELECT file_id, count(*) AS total,
                       count(*) FILTER (WHERE status = 'passed') AS passed,
                       count(*) FILTER (WHERE status = 'failed') AS failed,
                       count(*) FILTER (WHERE status = 'error') AS errors,
                       count(*) FILTER (WHERE status = 'skipped') AS skipped
                FROM results GROUP BY file_id)
            UPDATE files f SET results = n.total, tests = n.total, passed = n.passed,
                   failed = n.failed, errors = n.errors, skipped = n.skipped
            FROM n WHERE n.file_id = f.id""",
        ),
        *_flaky_steps(FlakySettings()),
        ("drop catalogue", "DROP TABLE bench_catalogue"),
        (
            "sequences",
            """
            SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs)),
                   setval(pg_get_serial_sequence('files', 'id'), (SELECT max(id) FROM files))""",
        ),
    ]
    return steps


def _flaky_steps(settings: FlakySettings) -> list[tuple[str, str]]:
    """The flaky roll-up (``flaky_series``, ``flaky_tests``) as the engine counts it.

    The same definition as ``testdash_models.flaky`` (windows, infrastructure runs, the
    series' candidates, ``lag()`` for flips, the rules and scores of SETTINGS), in one
    pass over the windows' results instead of one series at a time. Scores are rounded
    as numerics: an exact tie at the last digit may round the other way than Python's.
    """
    share, failing = settings.infra_share, "(res.status IN ('failed', 'error'))::int"
    key = "w.server_id::text || chr(31) || coalesce('=' || w.run_tag, '') || chr(31)"
    key += " || coalesce('=' || w.branch, '')"
    series_id = f"('x' || substr(md5({key}), 1, 16))::bit(64)::bigint"
    same_series = (
        "f.server_id = w.server_id AND f.run_tag IS NOT DISTINCT FROM w.run_tag"
        " AND f.branch IS NOT DISTINCT FROM w.branch"
    )
    rate = "f.failures::float8 / f.runs"
    fired = {
        "flips": (f"f.flips >= {settings.min_flips}", "f.flips::float8 / greatest(f.runs - 1, 1)"),
        "retries": (f"f.retries >= {settings.min_retries}", "f.retries::float8 / f.runs"),
        "rate": (
            f"f.failures > 0 AND {rate} BETWEEN {settings.rate_low} AND {settings.rate_high}",
            f"2 * least({rate}, 1 - {rate})",
        ),
    }
    # A rule counts when a clause holding it fires whole (",": any clause, "+": all rules).
    counts = {
        rule: " OR ".join(
            "(" + " AND ".join(fired[r][0] for r in clause) + ")"
            for clause in settings.rules
            if rule in clause
        )
        or "false"
        for rule in sorted(fired)
    }
    scores = ", ".join(f"CASE WHEN {counts[r]} THEN {fired[r][1]} ELSE 0 END" for r in fired)
    names = ", ".join(f"CASE WHEN {counts[r]} THEN '{r}' END" for r in sorted(fired))
    return [
        (
            "flaky windows",
            f"""
            CREATE UNLOGGED TABLE bench_window AS
            SELECT id, server_id, run_tag, branch, started_at, failed + errors > {share} * total
                   AS infra
            FROM (SELECT r.*, row_number() OVER (
                      PARTITION BY server_id, run_tag, branch
                      ORDER BY started_at DESC NULLS LAST, id DESC) AS position
                  FROM runs r WHERE total > 0) n
            WHERE position <= {settings.window}""",
        ),
        (
            "flaky series",
            f"""
            INSERT INTO flaky_series (id, server_id, run_tag, branch, settings, runs, infra,
                                      rolled_at)
            SELECT {series_id}, w.server_id, w.run_tag, w.branch,
                   '{settings.key.replace("'", "''")}', count(*), count(*) FILTER (WHERE infra),
                   now()
            FROM bench_window w GROUP BY w.server_id, w.run_tag, w.branch""",
        ),
        (
            "flaky tests",
            f"""
            WITH w AS (SELECT * FROM bench_window WHERE NOT infra),
            failed AS (
                SELECT DISTINCT res.test_case_id, w.server_id, w.run_tag, w.branch
                FROM results res JOIN w ON w.id = res.run_id
                WHERE res.status IN ('failed', 'error')),
            e AS (
                SELECT res.test_case_id, w.server_id, w.run_tag, w.branch, {failing} AS failing,
                       ((res.flaky OR res.attempt > 1) AND {failing} = 0)::int AS retried,
                       lag({failing}) OVER (
                           PARTITION BY res.test_case_id, w.server_id, w.run_tag, w.branch
                           ORDER BY w.started_at NULLS FIRST, w.id) AS previous
                FROM results res JOIN w ON w.id = res.run_id
                WHERE res.final AND res.status <> 'skipped'
                  AND res.test_case_id IN (SELECT test_case_id FROM failed)),
            counted AS (
                SELECT test_case_id, server_id, run_tag, branch, count(*) AS runs,
                       sum(failing) AS failures,
                       sum(CASE WHEN previous <> failing THEN 1 ELSE 0 END) AS flips,
                       sum(retried) AS retries
                FROM e GROUP BY test_case_id, server_id, run_tag, branch
                HAVING sum(failing) > 0 OR sum(retried) > 0),
            f AS (
                SELECT w.* FROM counted w
                JOIN failed f ON f.test_case_id = w.test_case_id AND {same_series}),
            scored AS (
                SELECT f.*, round(greatest({scores})::numeric, 4)::float8 AS score,
                       concat_ws(',', {names}) AS rules
                FROM f WHERE f.runs >= {max(settings.min_runs, 1)})
            INSERT INTO flaky_tests (series_id, test_case_id, executions, failures, flips,
                                     retries, score, impact, rules)
            SELECT {series_id.replace("w.", "s.")}, s.test_case_id, s.runs, s.failures, s.flips,
                   s.retries, s.score, round((s.score * s.runs)::numeric, 3)::float8, s.rules
            FROM scored s WHERE s.rules <> ''""",
        ),
        ("drop flaky windows", "DROP TABLE bench_window"),
    ]


def _secondary_indexes(
    cur: psycopg2.extensions.cursor, tables: tuple[str, ...]
) -> list[tuple[str, str]]:
    cur.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           JOIN pg_class c ON c.relname = i.indexname
           JOIN pg_index x ON x.indexrelid = c.oid
           WHERE i.schemaname = 'public' AND i.tablename = ANY(%s) AND NOT x.indisprimary
             AND NOT x.indisunique""",
        (list(tables),),
    )
    return list(cur.fetchall())


def load(dsn: str, shape: Shape, log: bool = True) -> float:
    """Fill the migrated, empty database at DSN; returns the seconds it took."""
    start = time.perf_counter()
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET work_mem = '256MB'")
        indexes = _secondary_indexes(cur, ("results", "test_cases", "files"))
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        for label, sql in _steps(shape):
            t0 = time.perf_counter()
            cur.execute(sql)
            if log:
                print(f"  load: {label} {time.perf_counter() - t0:.1f}s", flush=True)
        for name, definition in indexes:
            t0 = time.perf_counter()
            cur.execute(definition)
            if log:
                print(f"  load: index {name} {time.perf_counter() - t0:.1f}s", flush=True)
        t0 = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        if log:
            print(f"  load: VACUUM ANALYZE {time.perf_counter() - t0:.1f}s", flush=True)
        cur.execute(f"CREATE TABLE {META_TABLE} (shape text NOT NULL)")
        cur.execute(f"INSERT INTO {META_TABLE} VALUES (%s)", (json.dumps(asdict(shape)),))
    conn.close()
    return time.perf_counter() - start


def top_up(dsn: str, log: bool = True) -> None:
    """Fill the flaky roll-up of a database loaded before this module filled it (kept loads)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM flaky_tests)")
        row = cur.fetchone()
        if row and not row[0]:
            cur.execute("SET work_mem = '256MB'")
            cur.execute("DELETE FROM flaky_series")  # a top-up stopped halfway
            cur.execute("DROP TABLE IF EXISTS bench_window")
            for label, sql in _flaky_steps(FlakySettings()):
                t0 = time.perf_counter()
                cur.execute(sql)
                if log:
                    print(f"  top-up: {label} {time.perf_counter() - t0:.1f}s", flush=True)
            cur.execute("VACUUM ANALYZE flaky_series")
            cur.execute("VACUUM ANALYZE flaky_tests")
    conn.close()


def loaded_shape(dsn: str) -> Shape | None:
    """The shape a completed load left in the database at DSN, or None."""
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.OperationalError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (META_TABLE,))
            row = cur.fetchone()
            if not row or not row[0]:
                return None
            cur.execute(f"SELECT shape FROM {META_TABLE}")
            found = cur.fetchone()
            return Shape(**json.loads(found[0])) if found else None
    finally:
        conn.close()
