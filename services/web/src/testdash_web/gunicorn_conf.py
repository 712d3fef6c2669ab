"""gunicorn settings from the environment: ``gunicorn -c python:testdash_web.gunicorn_conf``.

Importable by module name, so the image and ``make run`` load the same file wherever the
package is installed. Command-line options (``--bind``) still win over these.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger
from testdash_models.config import ConfigError, env_int


def _int(name: str, default: int) -> int:
    try:
        return env_int(name, default)
    except ConfigError as exc:  # gunicorn prints a SystemExit's message, not a traceback
        raise SystemExit(str(exc)) from None


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = _int("WEB_CONCURRENCY", 2)
# Threads overlap database waits in a worker; more than one switches gunicorn to gthread.
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
# A request slower than this is stuck: the worker is killed and restarted.
timeout = _int("GUNICORN_TIMEOUT", 60)
# On SIGTERM (a pod stopping) workers finish their requests for this long; keep it below
# the pod's terminationGracePeriodSeconds (30 s by default).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25)
# Longer than a typical ingress idle timeout is pointless; shorter drops reused connections.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
# Heartbeat files on tmpfs: a container's overlay /tmp can stall workers into timeouts.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logger_class = "testdash_web.gunicorn_conf.JsonAccessLogger"


class JsonAccessLogger(Logger):  # type: ignore[misc]
    """Access log lines as JSON objects, one per request (safe for any path or agent)."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """Write one JSON line for a finished request."""
        if not self.access_log_enabled:
            return
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "remote": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(str(resp.status).split(None, 1)[0]),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": environ.get("HTTP_X_REQUEST_ID"),
            "pid": os.getpid(),
        }
        self.access_log.info("%s", json.dumps(line, separators=(",", ":")))


# Prometheus (testdash_web.metrics): workers write their counters to PROMETHEUS_MULTIPROC_DIR
# and the master serves the sum on METRICS_PORT. prometheus_client picks multiprocess mode
# when first imported, so on_starting sets the directory (a default of its own, removed on
# exit) before anything imports it; the hooks import testdash_web.metrics only then.
def on_starting(server: Any) -> None:
    """Choose and empty the metrics directory before any worker starts."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = os.path.join(worker_tmp_dir or "/tmp", f"testdash-metrics-{os.getpid()}")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["TESTDASH_METRICS_DIR_DEFAULTED"] = path
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    from testdash_web import metrics

    metrics.on_starting(server)


def when_ready(server: Any) -> None:
    """Serve /metrics from the master."""
    from testdash_web import metrics

    metrics.when_ready(server)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges."""
    from testdash_web import metrics

    metrics.child_exit(server, worker)


def on_exit(server: Any) -> None:
    """Remove the default metrics directory."""
    from testdash_web import metrics

    metrics.on_exit(server)
