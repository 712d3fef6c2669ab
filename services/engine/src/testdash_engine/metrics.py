"""What one ``run`` or ``ingest`` did, pushed to a Prometheus Pushgateway (``PUSHGATEWAY_URL``).

The grouping key is job and server, so each server's last run replaces its previous one.
Metrics are pushed with POST (``pushadd``): a failed run replaces the figures of the last
run but leaves ``testdash_engine_last_success_timestamp_seconds`` of the last good one.
A push that fails is a warning: it never fails the ingest. The database's ingest jobs
stay the source of truth; these figures are for alerts and dashboards.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from testdash_engine.ingest import IngestStats

if TYPE_CHECKING:  # prometheus_client loads only when there is somewhere to push
    from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger("testdash.engine.metrics")
JOB = "testdash-engine"
ALL_SERVERS = "_all"  # the grouping key of an ingest of every server's queue
OUTCOMES = ("success", "partial", "failed")
DEFAULT_INTERVAL = 3600  # seconds between runs when INGEST_INTERVAL_SECONDS is not set
FILE_STATES = ("seen", "new", "changed", "unchanged", "rejected")


@dataclass(slots=True)
class RunRecord:
    """One engine command: when it started and, once it ends, what it did."""

    server: str
    started: float
    stats: IngestStats | None = None
    crashed: bool = False

    @property
    def outcome(self) -> str:
        """success; partial (files rejected, nothing failed); failed (an item or the run)."""
        if self.crashed or self.stats is None or self.stats.failed_items:
            return "failed"
        return "partial" if self.stats.files_rejected else "success"


def interval_seconds() -> int:
    """How often this server's engine is meant to run (``INGEST_INTERVAL_SECONDS``)."""
    raw = os.environ.get("INGEST_INTERVAL_SECONDS", "")
    try:
        return max(int(raw), 1) if raw.strip() else DEFAULT_INTERVAL
    except ValueError:
        log.warning("INGEST_INTERVAL_SECONDS=%r is not a number; using %d", raw, DEFAULT_INTERVAL)
        return DEFAULT_INTERVAL


def registry_for(record: RunRecord, now: float) -> CollectorRegistry:
    """The gauges of one finished command."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    outcome = record.outcome
    stats = record.stats or IngestStats()
    files = gauge("testdash_engine_last_run_files", "Files of the last run by state.", ("state",))
    for state in FILE_STATES:
        files.labels(state).set(getattr(stats, f"files_{state}"))
    gauge("testdash_engine_last_run_results_written", "Results the last run wrote.").set(
        stats.results_written
    )
    gauge("testdash_engine_last_run_runs_ingested", "Runs the last run ingested.").set(stats.runs)
    gauge("testdash_engine_last_run_duration_seconds", "Wall time of the last run.").set(
        now - record.started
    )
    gauge("testdash_engine_last_run_timestamp_seconds", "When the last run ended.").set(now)
    result = gauge(
        "testdash_engine_last_run_outcome", "1 for the last run's outcome.", ("outcome",)
    )
    for name in OUTCOMES:
        result.labels(name).set(1 if name == outcome else 0)
    gauge(
        "testdash_engine_expected_interval_seconds",
        "Seconds between scheduled runs (INGEST_INTERVAL_SECONDS).",
    ).set(interval_seconds())
    if outcome == "success":
        gauge(
            "testdash_engine_last_success_timestamp_seconds",
            "When a run last finished with nothing failed and no file newly rejected.",
        ).set(now)
    return registry


def push(record: RunRecord, url: str | None = None) -> bool:
    """Push the record when PUSHGATEWAY_URL is set; False (and a warning) when it fails."""
    url = url or os.environ.get("PUSHGATEWAY_URL")
    if not url:
        return False
    from prometheus_client import pushadd_to_gateway

    try:
        timeout = float(os.environ.get("PUSHGATEWAY_TIMEOUT") or 5)
        pushadd_to_gateway(
            url,
            job=JOB,
            registry=registry_for(record, time.time()),
            grouping_key={"server": record.server},
            timeout=timeout,
        )
    except Exception as exc:  # any failure to push must leave the ingest's outcome alone
        log.warning("could not push metrics to %s: %s", url, exc)
        return False
    return True


@contextmanager
def pushed(server: str | None) -> Iterator[RunRecord]:
    """Record a command; push its figures when it ends, as failed if it raised."""
    record = RunRecord(server or ALL_SERVERS, time.time())
    try:
        yield record
    except BaseException:
        record.crashed = True
        raise
    finally:
        push(record)
