"""Prometheus metrics of the web: HTTP by route template, and the database's gauges.

``/metrics`` is served on its own port (``METRICS_PORT``, default 9100), never by the app,
so the ingress cannot reach it. Under gunicorn prometheus_client runs in multiprocess
mode: each worker writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR`` and the
master serves their sum together with the database gauges, registered there once so they
are never summed over workers. ``gunicorn_conf`` wires the hooks below: ``on_starting``
cleans the directory, ``when_ready`` starts the server, ``child_exit`` marks a dead
worker. Labels never hold a raw path or a test name: routes are URL rule templates.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool
from testdash_models import db
from testdash_models.config import env_int

from testdash_web.dbmetrics import DomainCollector, Limits

log = logging.getLogger("testdash.web.metrics")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no URL rule: 404 and 405 (the raw path is never a label)
EXTENSION = "testdash_metrics"
# Pages and API answers: most well under a second; exports and searches may take seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "testdash_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "testdash_http_request_duration_seconds",
    "Time to produce a response (before streaming its body), by route template.",
    ["route"],
    buckets=BUCKETS,
)
IN_PROGRESS = Gauge(
    "testdash_http_requests_in_progress",
    "Requests being handled now (summed over live workers).",
    multiprocess_mode="livesum",
)


@dataclass(slots=True)
class MetricsState:
    """What ``init_app`` keeps in ``app.extensions['testdash_metrics']``."""

    collector: DomainCollector
    registry: CollectorRegistry


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when prometheus_client runs in it."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def limits_from_env() -> Limits:
    """Cache lifetime and windows of the database gauges (``METRICS_*`` variables)."""
    return Limits(
        ttl=float(env_int("METRICS_CACHE_SECONDS", 30)),
        max_run_tags=env_int("METRICS_MAX_RUN_TAGS", 10),
        run_tag_days=env_int("METRICS_RUN_TAG_DAYS", 30),
        flaky_days=env_int("METRICS_FLAKY_DAYS", 7),
    )


def init_app(app: Flask) -> None:
    """Count and time every request; keep the database collector in ``app.extensions``."""

    def app_engine() -> Engine:
        with app.app_context():
            return db.engine

    registry = CollectorRegistry(auto_describe=False)
    collector = DomainCollector(app_engine, limits_from_env())
    registry.register(collector)
    app.extensions[EXTENSION] = MetricsState(collector, registry)
    app.before_request(_start)
    app.after_request(_observe)
    app.teardown_request(_finish)


def _start() -> None:
    g.metrics_started = time.perf_counter()
    IN_PROGRESS.inc()


def _observe(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    started = g.get("metrics_started")
    seconds = None if started is None else time.perf_counter() - started
    count(route, request.method, response.status_code, seconds)
    return response


def count(route: str, method: str, status: int, seconds: float | None) -> None:
    """Count one answer of ROUTE (a URL rule template) and time it when SECONDS is known.

    Flask's hooks call it, and so does the page cache for answers it serves without Flask.
    """
    REQUESTS.labels(route, method if method in METHODS else "other", str(status)).inc()
    if seconds is not None:
        LATENCY.labels(route).observe(seconds)


def _finish(error: BaseException | None) -> None:
    if g.pop("metrics_started", None) is not None:
        IN_PROGRESS.dec()


def render(app: Flask) -> bytes:
    """The text a scrape of this process would get (single-process mode; tests)."""
    state: MetricsState = app.extensions[EXTENSION]
    return generate_latest(REGISTRY) + generate_latest(state.registry)


# --- gunicorn hooks (imported by testdash_web.gunicorn_conf) -------------------------------


def on_starting(server: Any) -> None:
    """Empty the multiprocess directory before any worker writes to it."""
    path = multiprocess_dir()
    if path is None:
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def when_ready(server: Any) -> None:
    """Serve /metrics from the master: the workers' files summed, the database gauges once."""
    port = env_int("METRICS_PORT", 9100)
    if port <= 0 or multiprocess_dir() is None:
        log.warning("metrics: not served (METRICS_PORT=0 or no PROMETHEUS_MULTIPROC_DIR)")
        return
    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(DomainCollector(master_engine(), limits_from_env()))
    addr = os.environ.get("METRICS_ADDR", "0.0.0.0")
    start_http_server(port, addr=addr, registry=registry)
    log.info("metrics: serving /metrics on %s:%d", addr, port)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges; its counters stay in the sum."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the directory gunicorn_conf made up itself (a deployment's own stays)."""
    path = multiprocess_dir()
    if path and os.environ.get("TESTDASH_METRICS_DIR_DEFAULTED") == path:
        shutil.rmtree(path, ignore_errors=True)


def master_engine() -> Callable[[], Engine]:
    """A function giving the master's database engine, made on first use.

    NullPool: the master forks workers after this exists, and a pooled connection
    inherited by a child would be closed under the master by the child's exit.
    """
    from testdash_models.factory import create_base_app

    config = create_base_app(import_name="testdash_web").config
    engine: Engine | None = None

    def get() -> Engine:
        nonlocal engine
        if engine is None:
            url = config["SQLALCHEMY_DATABASE_URI"]
            connect_args = config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
            if url.startswith("postgresql"):
                connect_args = dict(connect_args, application_name="testdash-metrics")
            engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        return engine

    return get
