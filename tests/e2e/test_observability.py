"""Observability with the real programs: Debian's Prometheus and Pushgateway, gunicorn, the engine.

Starts everything on loopback with free ports and temporary directories: the Pushgateway,
an engine ``run`` pushing to it, the web under gunicorn with two workers on PostgreSQL,
and Prometheus scraping both with the chart's very alert rules loaded. Then asks
Prometheus' HTTP API for the HTTP series, the database gauges and the pushed engine series.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.deploy.test_alerts import ALERTS, metrics_used
from tests.engine.trees import ENGINE, engine_env

PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PROMETHEUS is None or PUSHGATEWAY is None,
        reason="needs the Debian packages prometheus and prometheus-pushgateway",
    ),
]
SERVER = "e2e-lab"
CLEAN = "e2e-clean"
NOW = datetime.now(UTC).replace(microsecond=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(check: Callable[[], object], what: str, seconds: float = 60) -> object:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start a program with its output in a log file; every one is stopped at the end."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def launch(name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        started.append((proc, log))
        return proc

    yield launch
    for proc, log in started:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.returncode not in (0, -15, 143):
            print(f"--- {log.name} (exit {proc.returncode})\n{log.read_text()[-3000:]}")


def junit(cases: list[tuple[str, str]], started: datetime) -> str:
    body = []
    for name, status in cases:
        inner = {"failed": "<failure message='no'>boom</failure>", "skipped": "<skipped/>"}
        body.append(
            f"<testcase classname='e2e.Tests' name='{name}' time='0.01'>"
            f"{inner.get(status, '')}</testcase>"
        )
    stamp = started.strftime("%Y-%m-%dT%H:%M:%S")
    return (
        f"<?xml version='1.0'?><testsuite name='e2e' tests='{len(cases)}' "
        f"timestamp='{stamp}'>{''.join(body)}</testsuite>"
    )


def make_volume(root: Path) -> Path:
    """Two runs: build-1 (3 passed, 1 failed, 1 skipped, and a truncated file), build-2 nightly."""
    first = root / "build-1"
    first.mkdir(parents=True)
    cases = [
        ("t1", "passed"),
        ("t2", "passed"),
        ("t3", "passed"),
        ("t4", "failed"),
        ("t5", "skipped"),
    ]
    (first / "TEST-a.xml").write_text(junit(cases, NOW - timedelta(hours=2)))
    (first / "bad.xml").write_text("<testsuite><testcase name='cut'")
    second = root / "build-2"
    second.mkdir()
    (second / "TEST-b.xml").write_text(
        junit([(f"n{i}", "passed") for i in range(4)], NOW - timedelta(hours=1))
    )
    manifest = {"run_tag": "nightly", "start_time": (NOW - timedelta(hours=1)).isoformat()}
    (second / "testdash-run.json").write_text(json.dumps(manifest))
    return root


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict]:
        status, body = http_get(
            f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        )
        data = json.loads(body)
        assert status == 200 and data["status"] == "success", data
        return list(data["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def by(self, expr: str, label: str) -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}


def test_prometheus_scrapes_the_web_and_the_pushed_engine_figures(pg_url, tmp_path, start):
    # Pushgateway, then one engine run pushing to it (exit 1: a file is rejected).
    push_port = free_port()
    start(
        "pushgateway",
        # Debian's build persists to /var/lib/prometheus by default: a test's own file keeps
        # earlier runs' groups out of this one.
        [
            PUSHGATEWAY,
            f"--web.listen-address=127.0.0.1:{push_port}",
            f"--persistence.file={tmp_path / 'pushgateway.data'}",
        ],
    )
    wait_until(lambda: http_get(f"http://127.0.0.1:{push_port}/-/ready")[0] == 200, "pushgateway")
    env = engine_env(pg_url, tmp_path / "instance")
    env.update(PUSHGATEWAY_URL=f"http://127.0.0.1:{push_port}", INGEST_INTERVAL_SECONDS="600")
    volume = make_volume(tmp_path / "volume")
    done = subprocess.run(
        [*ENGINE, "run", "--server", SERVER, "--root", str(volume)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not push" not in done.stderr
    # A second server whose run succeeds: only a success pushes the last-success time.
    clean = tmp_path / "clean"
    (clean / "build-1").mkdir(parents=True)
    (clean / "build-1" / "TEST-c.xml").write_text(junit([("c1", "passed")], NOW))
    done = subprocess.run(
        [*ENGINE, "run", "--server", CLEAN, "--root", str(clean)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # The web under gunicorn: two workers, /metrics from the master on its own port.
    web_port, metrics_port = free_port(), free_port()
    web_env = dict(env)
    web_env.update(
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        GUNICORN_ACCESS_LOG=str(tmp_path / "access.log"),
        METRICS_PORT=str(metrics_port),
        METRICS_ADDR="127.0.0.1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "multiproc"),
        METRICS_CACHE_SECONDS="1",
    )
    (tmp_path / "multiproc").mkdir()
    web = f"http://127.0.0.1:{web_port}"
    start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:testdash_web.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{web_port}",
            "testdash_web:create_app()",
        ],
        env=web_env,
    )
    wait_until(lambda: http_get(f"{web}/readyz")[0] == 200, "the web", seconds=90)
    wait_until(lambda: http_get(f"http://127.0.0.1:{metrics_port}/metrics")[0] == 200, "metrics")
    statuses = [http_get(f"{web}/healthz")[0] for _ in range(120)]
    statuses += [http_get(f"{web}/runs")[0] for _ in range(10)]
    statuses += [http_get(f"{web}/no/such/page")[0] for _ in range(7)]
    assert statuses.count(200) == 130 and statuses.count(404) == 7
    # On a busy machine one worker may take every connection: /readyz until both have answered.
    workers = tmp_path / "multiproc"
    for _ in range(30):
        if len(list(workers.glob("counter_*.db"))) >= 2:
            break
        assert all(http_get(f"{web}/readyz")[0] == 200 for _ in range(50))

    # Prometheus scraping both every second, with the chart's alert rules.
    prom_port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "testdash-web",
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
            },
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{push_port}"]}],
            },
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    start(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
    )
    prom = Prometheus(f"http://127.0.0.1:{prom_port}")
    wait_until(lambda: http_get(f"{prom.url}/-/ready")[0] == 200, "prometheus")
    healthz = 'sum(testdash_http_requests_total{route="/healthz",method="GET",status="200"})'
    wait_until(lambda: prom.value(healthz) == 120, "120 /healthz requests in Prometheus")
    wait_until(lambda: prom.query("testdash_engine_last_run_outcome"), "the pushed series")
    wait_until(lambda: prom.query("testdash_runs"), "the database gauges")

    # HTTP: both workers' counters add up; labels are route templates.
    assert prom.value('sum(testdash_http_requests_total{route="/runs",status="200"})') == 10
    assert prom.value('sum(testdash_http_requests_total{route="unmatched",status="404"})') == 7
    assert prom.value('sum(testdash_http_request_duration_seconds_count{route="/healthz"})') == 120
    assert prom.value("sum(testdash_http_requests_in_progress)") == 0
    assert prom.value('count(testdash_db_up{job="testdash-web"})') == 1, (
        "gauges once, not per worker"
    )
    served = {p.name for p in workers.glob("counter_*.db")}
    assert len(served) == 2, f"both workers served requests: {served}"

    # The database gauges.
    s = f'server="{SERVER}"'
    assert prom.by(f"testdash_runs{{{s}}}", "status") == {
        "passed": 1,
        "failed": 1,
        "empty": 0,
        "rejected": 0,
    }
    assert prom.by(f"testdash_results{{{s}}}", "status") == {
        "passed": 7,
        "failed": 1,
        "error": 0,
        "skipped": 1,
    }
    assert prom.by(f"testdash_latest_run_pass_ratio{{{s}}}", "run_tag") == {
        "nightly": 1.0,
        "untagged": 0.75,
    }
    assert prom.value(f"testdash_files_rejected{{{s}}}") == 1
    assert prom.by(f"testdash_queue_items{{{s}}}", "state")["done"] == 2
    assert prom.value(f"testdash_flaky_results{{{s}}}") == 0
    newest = prom.value(f"testdash_server_last_run_timestamp_seconds{{{s}}}")
    assert newest == (NOW - timedelta(hours=1)).timestamp()
    for name in ("last_success", "last_scan"):
        stamp = prom.value(f"testdash_server_{name}_timestamp_seconds{{{s}}}")
        assert stamp is not None and abs(stamp - time.time()) < 300

    # The engine's run, pushed with job and server as the grouping key.
    e = f'job="testdash-engine",{s}'
    assert prom.by(f"testdash_engine_last_run_files{{{e}}}", "state") == {
        "seen": 3,
        "new": 2,
        "changed": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert prom.value(f"testdash_engine_last_run_results_written{{{e}}}") == 9
    assert prom.value(f"testdash_engine_last_run_runs_ingested{{{e}}}") == 2
    assert prom.by(f"testdash_engine_last_run_outcome{{{e}}}", "outcome") == {
        "success": 0,
        "partial": 1,
        "failed": 0,
    }
    assert prom.value(f"testdash_engine_expected_interval_seconds{{{e}}}") == 600
    assert prom.value(f"testdash_engine_last_success_timestamp_seconds{{{e}}}") is None
    c = f'job="testdash-engine",server="{CLEAN}"'
    assert prom.value(f'testdash_engine_last_run_outcome{{{c},outcome="success"}}') == 1
    success = prom.value(f"testdash_engine_last_success_timestamp_seconds{{{c}}}")
    assert success is not None and abs(success - time.time()) < 300
    assert 0 < (prom.value(f"testdash_engine_last_run_duration_seconds{{{e}}}") or 0) < 120

    # Every metric the dashboards and alerts use exists in this real scrape.
    missing = [name for name in sorted(metrics_used()) if not prom.query(f"count({name})")]
    assert missing == []

    # The alert rules load and evaluate; none fires on this healthy system.
    status, body = http_get(f"{prom.url}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 8 and all(r["health"] == "ok" for r in rules), rules

    def active_alerts() -> list[str]:
        alerts = json.loads(http_get(f"{prom.url}/api/v1/alerts")[1])["data"]["alerts"]
        return [a["labels"]["alertname"] for a in alerts]

    # WebDown may be pending from before the first scrape; it must clear once scraped.
    wait_until(lambda: active_alerts() == [], "no active alert")
    assert prom.query('ALERTS{alertstate="firing"}') == []
