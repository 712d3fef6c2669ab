"""The database's figures as Prometheus gauges: a custom collector with a short cache.

Every query reads ``servers``, ``runs``, ``queue`` or ``files`` through an index or a
per-run counter column; none scans ``results``. A scrape inside the cache's lifetime
runs no query at all, and concurrent scrapes share one refresh. Labels are bounded by
the number of servers: statuses and states are fixed sets, and ``run_tag`` is capped
per server (``METRICS_MAX_RUN_TAGS``). See docs/observability.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from testdash_models.models import QueueItem, Run, Server
from testdash_models.models.ingest import QUEUE_STATES, RUN_STATUSES

log = logging.getLogger("testdash.web.metrics")
RESULT_COLUMNS = {"passed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped"}
UNTAGGED = "untagged"

# Latest run per (server, run_tag) among recent runs with results; tags ranked per server
# by their latest run, only the first :cap kept. Window functions: PostgreSQL and SQLite.
LATEST_BY_TAG = text(
    """
    SELECT server_id, tag, passed, failed, errors FROM (
        SELECT server_id, tag, passed, failed, errors,
               row_number() OVER (PARTITION BY server_id ORDER BY started_at DESC, id DESC)
                   AS tag_rank
        FROM (
            SELECT id, server_id, COALESCE(run_tag, '') AS tag, started_at,
                   passed, failed, errors,
                   row_number() OVER (
                       PARTITION BY server_id, COALESCE(run_tag, '')
                       ORDER BY started_at DESC, id DESC
                   ) AS rn
            FROM runs
            WHERE started_at >= :since AND passed + failed + errors > 0
        ) latest
        WHERE rn = 1
    ) ranked
    WHERE tag_rank <= :cap
    """
)


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a snapshot lives and how far back the windowed figures look."""

    ttl: float = 30.0
    max_run_tags: int = 10
    run_tag_days: int = 30
    flaky_days: int = 7


@dataclass(slots=True)
class Snapshot:
    """The figures of one refresh, ready to be turned into metric families."""

    ok: bool = True
    seconds: float = 0.0
    servers: dict[int, str] = field(default_factory=dict)
    runs: dict[tuple[int, str], int] = field(default_factory=dict)
    results: dict[tuple[int, str], int] = field(default_factory=dict)
    rejected: dict[int, int] = field(default_factory=dict)
    last_run: dict[int, float] = field(default_factory=dict)
    last_success: dict[int, float] = field(default_factory=dict)
    last_scan: dict[int, float] = field(default_factory=dict)
    queue: dict[tuple[int, str], int] = field(default_factory=dict)
    flaky: dict[int, int] = field(default_factory=dict)
    pass_ratio: dict[tuple[int, str], float] = field(default_factory=dict)


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def read_snapshot(engine: Engine, limits: Limits) -> Snapshot:
    """Run the few cheap queries behind the gauges."""
    snap = Snapshot()
    now = datetime.now(UTC)
    with engine.connect() as conn:
        for sid, name, success, scan in conn.execute(
            select(Server.id, Server.name, Server.last_success_at, Server.last_scan_at)
        ):
            snap.servers[sid] = name
            if (stamp := _ts(success)) is not None:
                snap.last_success[sid] = stamp
            if (stamp := _ts(scan)) is not None:
                snap.last_scan[sid] = stamp
        # One pass over runs (per-run counter columns): runs, results and rejected files.
        sums = [func.coalesce(func.sum(getattr(Run, c)), 0) for c in RESULT_COLUMNS.values()]
        for sid, status, count, latest, rejected, *results in conn.execute(
            select(
                Run.server_id,
                Run.status,
                func.count(),
                func.max(Run.started_at),
                func.coalesce(func.sum(Run.files_rejected), 0),
                *sums,
            ).group_by(Run.server_id, Run.status)
        ):
            snap.runs[sid, status] = int(count)
            snap.rejected[sid] = snap.rejected.get(sid, 0) + int(rejected)
            for status_name, value in zip(RESULT_COLUMNS, results, strict=True):
                key = (sid, status_name)
                snap.results[key] = snap.results.get(key, 0) + int(value)
            if (stamp := _ts(latest)) is not None:
                snap.last_run[sid] = max(stamp, snap.last_run.get(sid, stamp))
        for sid, state, count in conn.execute(
            select(QueueItem.server_id, QueueItem.state, func.count()).group_by(
                QueueItem.server_id, QueueItem.state
            )
        ):
            snap.queue[sid, state] = int(count)
        flaky_since = now - timedelta(days=limits.flaky_days)
        for sid, flaky in conn.execute(
            select(Run.server_id, func.coalesce(func.sum(Run.flaky), 0))
            .where(Run.started_at >= flaky_since)
            .group_by(Run.server_id)
        ):
            snap.flaky[sid] = int(flaky)
        since = now - timedelta(days=limits.run_tag_days)
        for sid, tag, passed, failed, errors in conn.execute(
            LATEST_BY_TAG, {"since": since, "cap": limits.max_run_tags}
        ):
            snap.pass_ratio[sid, tag or UNTAGGED] = passed / (passed + failed + errors)
    return snap


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def families(snap: Snapshot) -> Iterator[Metric]:
    """The snapshot as metric families; every server gets every status and state (zeros too)."""
    up = _gauge("testdash_db_up", "1 when the last read of the database for metrics worked.", [])
    up.add_metric([], 1.0 if snap.ok else 0.0)
    took = _gauge("testdash_db_read_seconds", "Seconds the last metrics read took.", [])
    took.add_metric([], snap.seconds)
    yield up
    yield took
    if not snap.ok:
        return
    runs = _gauge("testdash_runs", "Runs stored, by server and run status.", ["server", "status"])
    results = _gauge(
        "testdash_results",
        "Final results stored (one per test per run), by server and status.",
        ["server", "status"],
    )
    queue = _gauge("testdash_queue_items", "Queue items by server and state.", ["server", "state"])
    rejected = _gauge("testdash_files_rejected", "Rejected files stored, by server.", ["server"])
    flaky = _gauge(
        "testdash_flaky_results",
        "Final results flagged flaky in runs started in the last days (METRICS_FLAKY_DAYS).",
        ["server"],
    )
    success = _gauge(
        "testdash_server_last_success_timestamp_seconds",
        "When the last ingest with work finished for the server (servers.last_success_at).",
        ["server"],
    )
    scan = _gauge(
        "testdash_server_last_scan_timestamp_seconds",
        "When the server's volume was last scanned.",
        ["server"],
    )
    last_run = _gauge(
        "testdash_server_last_run_timestamp_seconds",
        "Start time of the server's newest stored run.",
        ["server"],
    )
    ratio = _gauge(
        "testdash_latest_run_pass_ratio",
        "passed / (passed + failed + error) of the latest run per server and run_tag "
        "(recent runs with results; run_tag capped per server).",
        ["server", "run_tag"],
    )
    for sid, name in sorted(snap.servers.items(), key=lambda item: item[1]):
        for status in RUN_STATUSES:
            runs.add_metric([name, status], snap.runs.get((sid, status), 0))
        for status in RESULT_COLUMNS:
            results.add_metric([name, status], snap.results.get((sid, status), 0))
        for state in QUEUE_STATES:
            queue.add_metric([name, state], snap.queue.get((sid, state), 0))
        rejected.add_metric([name], snap.rejected.get(sid, 0))
        flaky.add_metric([name], snap.flaky.get(sid, 0))
        for family, stamps in ((success, snap.last_success), (scan, snap.last_scan)):
            if sid in stamps:
                family.add_metric([name], stamps[sid])
        if sid in snap.last_run:
            last_run.add_metric([name], snap.last_run[sid])
    for (sid, tag), value in sorted(snap.pass_ratio.items()):
        if sid in snap.servers:
            ratio.add_metric([snap.servers[sid], tag], value)
    yield from (runs, results, queue, rejected, flaky, success, scan, last_run, ratio)


class DomainCollector(Collector):
    """Gauges from the database, refreshed at most once per ``limits.ttl`` seconds."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.limits = limits or Limits()
        self.clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._taken = 0.0

    def snapshot(self) -> Snapshot:
        """The cached snapshot, or a fresh one when it is older than the TTL."""
        with self._lock:
            now = self.clock()
            if self._snapshot is None or now - self._taken >= self.limits.ttl:
                started = time.monotonic()
                try:
                    snap = read_snapshot(self.engine(), self.limits)
                except SQLAlchemyError as exc:
                    # A failed read is cached too: a down database is not asked on every scrape.
                    log.warning("metrics: database read failed: %s", type(exc).__name__)
                    snap = Snapshot(ok=False)
                snap.seconds = time.monotonic() - started
                self._snapshot, self._taken = snap, now
            return self._snapshot

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges of the current snapshot."""
        yield from families(self.snapshot())

    def describe(self) -> list[Metric]:
        """Nothing: registering the collector must not query the database."""
        return []
