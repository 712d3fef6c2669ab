"""Web metrics: HTTP by route template, database gauges, and gunicorn's workers adding up."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from testdash_models import db
from testdash_models.models import QueueItem, Run
from testdash_web import metrics
from testdash_web.dbmetrics import DomainCollector, Limits

from tests.web.readside import NOW, add_run, add_server, cases, seed_basic


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(app) -> dict[tuple[str, tuple], float]:
    return samples(metrics.render(app).decode())


def get(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def named(found, name):
    return {labels: v for (n, labels), v in found.items() if n == name}


def test_requests_are_labelled_by_route_template_never_by_path(dash, browse):
    seeded = seed_basic()
    before = scrape(dash)
    run_id = seeded.runs[0]
    test_id = seeded.tests["test_0002"]
    assert browse.get(f"/runs/{run_id}").status_code == 200
    assert browse.get(f"/tests/{test_id}").status_code == 200
    assert browse.get("/no/such/test_0002").status_code == 404
    assert browse.open("/healthz", method="BREW").status_code == 405
    after = scrape(dash)

    def delta(name, **labels):
        return get(after, name, **labels) - get(before, name, **labels)

    assert (
        delta(
            "testdash_http_requests_total", route="/runs/<int:run_id>", method="GET", status="200"
        )
        == 1
    )
    assert (
        delta(
            "testdash_http_requests_total",
            route="/tests/<int(signed=True):test_id>",
            method="GET",
            status="200",
        )
        == 1
    )
    assert delta("testdash_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert (
        delta("testdash_http_requests_total", route="unmatched", method="other", status="405") == 1
    )
    assert delta("testdash_http_request_duration_seconds_count", route="/runs/<int:run_id>") == 1
    labels = " ".join(str(k) for k in after)
    for raw in (f"/runs/{run_id}", str(test_id), "test_0002", "BREW"):
        assert raw not in labels
    assert get(after, "testdash_http_requests_in_progress") == 0


def test_server_errors_are_counted_with_their_status(dash, browse, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the view broke")

    monkeypatch.setattr(dash, "testing", False)
    dash.config["PROPAGATE_EXCEPTIONS"] = False
    monkeypatch.setitem(dash.view_functions, "overview.index", broken)
    before = get(
        scrape(dash), "testdash_http_requests_total", route="/", method="GET", status="500"
    )
    assert browse.get("/").status_code == 500
    after = get(scrape(dash), "testdash_http_requests_total", route="/", method="GET", status="500")
    assert after - before == 1


def test_domain_gauges_from_the_database(dash):
    seed_basic()
    lab = add_server("lab-3")
    old = NOW - timedelta(days=60)
    add_run(lab, "ancient", old, cases(4), run_tag="nightly")
    add_run(lab, "n1", NOW - timedelta(hours=5), cases(10, failing={1, 2}), run_tag="nightly")
    add_run(lab, "n2", NOW - timedelta(hours=1), cases(4, failing={0}), run_tag="nightly")
    add_run(lab, "untagged", NOW - timedelta(hours=2), cases(5))
    flaky = [{"name": "t_flaky", "status": "passed", "flaky": True}, *cases(3)]
    add_run(lab, "smoke", NOW - timedelta(hours=3), flaky, run_tag="smoke")
    db.session.execute(sa.update(Run).where(Run.run_dir == "smoke").values(files_rejected=2))
    for state in ("pending", "pending", "failed"):
        db.session.add(
            QueueItem(
                server_id=lab,
                run_dir=f"q-{state}-{time.monotonic_ns()}",
                state=state,
                time_to_live=NOW + timedelta(hours=1),
            )
        )
    db.session.commit()
    found = scrape(dash)

    assert get(found, "testdash_db_up") == 1
    assert get(found, "testdash_runs", server="lab-3", status="failed") == 2
    assert get(found, "testdash_runs", server="lab-3", status="passed") == 3
    assert get(found, "testdash_runs", server="lab-3", status="empty") == 0
    assert get(found, "testdash_results", server="lab-3", status="passed") == 4 + 8 + 3 + 5 + 4
    assert get(found, "testdash_results", server="lab-3", status="failed") == 3
    assert get(found, "testdash_results", server="lab-3", status="error") == 0
    # Latest run per tag: n2 (3 of 4) for nightly, not n1 and not the ancient one.
    ratios = named(found, "testdash_latest_run_pass_ratio")
    lab_ratios = {dict(k)["run_tag"]: v for k, v in ratios.items() if dict(k)["server"] == "lab-3"}
    assert lab_ratios == {"nightly": 0.75, "untagged": 1.0, "smoke": 1.0}
    assert (
        get(found, "testdash_latest_run_pass_ratio", server="build-linux", run_tag="nightly") == 0.9
    )
    assert get(found, "testdash_queue_items", server="lab-3", state="pending") == 2
    assert get(found, "testdash_queue_items", server="lab-3", state="failed") == 1
    assert get(found, "testdash_queue_items", server="lab-3", state="expired") == 0
    assert get(found, "testdash_queue_items", server="qa-lab", state="pending") == 1
    assert get(found, "testdash_files_rejected", server="lab-3") == 2
    assert get(found, "testdash_flaky_results", server="lab-3") == 1
    last_run = get(found, "testdash_server_last_run_timestamp_seconds", server="lab-3")
    assert last_run == (NOW - timedelta(hours=1)).timestamp()
    stale = get(found, "testdash_server_last_success_timestamp_seconds", server="qa-lab")
    assert stale == (NOW - timedelta(days=3)).timestamp()
    # Every server has every status and state: a fixed number of series per server.
    per_server = {
        name: len({k for k in named(found, name) if dict(k)["server"] == "lab-3"})
        for name in ("testdash_runs", "testdash_results", "testdash_queue_items")
    }
    assert per_server == {"testdash_runs": 4, "testdash_results": 4, "testdash_queue_items": 5}


def test_run_tags_are_capped_per_server(dash):
    sid = add_server("many-tags")
    for n in range(15):
        add_run(sid, f"r{n}", NOW - timedelta(minutes=n), cases(2), run_tag=f"build-{n}")
    db.session.commit()
    collector = DomainCollector(lambda: db.engine, Limits(max_run_tags=4))
    snap = collector.snapshot()
    tags = sorted(tag for (_, tag) in snap.pass_ratio)
    assert tags == ["build-0", "build-1", "build-2", "build-3"], "the most recently active tags"


def test_scrapes_inside_the_cache_lifetime_run_no_query(dash):
    seed_basic()
    now = [0.0]
    collector = DomainCollector(lambda: db.engine, Limits(ttl=30), clock=lambda: now[0])
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        list(collector.collect())
        first = len(statements)
        assert 1 <= first <= 6
        now[0] = 29.0
        list(collector.collect())
        assert len(statements) == first
        now[0] = 30.0
        list(collector.collect())
        assert len(statements) == 2 * first
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert not any("FROM results" in s or "JOIN results" in s for s in statements)


def test_a_database_that_cannot_be_read_gives_db_up_zero_and_no_domain_gauges(dash):
    broken = sa.create_engine(
        "postgresql+psycopg2://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    collector = DomainCollector(lambda: broken, Limits())
    found = {f.name: f for f in collector.collect()}
    assert set(found) == {"testdash_db_up", "testdash_db_read_seconds"}
    assert found["testdash_db_up"].samples[0].value == 0


def test_init_app_keeps_its_state_in_app_extensions(dash):
    state = dash.extensions["testdash_metrics"]
    assert isinstance(state, metrics.MetricsState)
    assert isinstance(state.collector, DomainCollector)


# --- real gunicorn, two workers -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gunicorn exited early"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def gunicorn_web(sqlite_url, tmp_path):
    """The web under real gunicorn: two workers, /metrics on its own port."""
    port, metrics_port = free_port(), free_port()
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (multiproc / "counter_1.db").write_bytes(b"stale")  # left by a previous pod: cleaned
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_URL"))}
    env.update(
        FLASK_CONFIG="testing",
        TEST_DATABASE_URL=sqlite_url,
        TESTDASH_INSTANCE_PATH=str(tmp_path / "instance"),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        GUNICORN_ACCESS_LOG=str(tmp_path / "access.log"),
        METRICS_PORT=str(metrics_port),
        METRICS_ADDR="127.0.0.1",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:testdash_web.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "testdash_web:create_app()",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"http://127.0.0.1:{metrics_port}/metrics", proc)
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", multiproc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def worker_files(multiproc) -> set[str]:
    return {p.name for p in pathlib.Path(multiproc).glob("counter_*.db")}


def load_until_both_workers_served(base: str, multiproc) -> tuple[int, int]:
    """Batches of requests until each worker has counted some; (200s, 404s) sent.

    The kernel hands connections to whichever worker accepts first: on a busy machine one
    worker may take a whole batch, so batches go on until both have answered.
    """
    ok = missing = 0
    for _ in range(30):
        paths = ["/healthz"] * 100 + ["/nowhere"] * 10
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda p: fetch(base + p), paths))
        assert statuses.count(200) == 100 and statuses.count(404) == 10
        ok, missing = ok + 100, missing + 10
        if len(worker_files(multiproc)) >= 2:
            return ok, missing
    raise AssertionError(f"one worker took every request: {worker_files(multiproc)}")


@pytest.mark.slow
def test_counters_of_two_gunicorn_workers_add_up(gunicorn_web):
    base, metrics_url, multiproc = gunicorn_web
    before = samples(urllib.request.urlopen(metrics_url, timeout=10).read().decode())
    ok, missing = load_until_both_workers_served(base, multiproc)
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    after = samples(text)

    def delta(name, **labels):
        return get(after, name, **labels) - get(before, name, **labels)

    assert delta("testdash_http_requests_total", route="/healthz", method="GET", status="200") == ok
    assert (
        delta("testdash_http_requests_total", route="unmatched", method="GET", status="404")
        == missing
    )
    assert delta("testdash_http_request_duration_seconds_count", route="/healthz") == ok
    # Both workers served requests: each wrote its own counter file, and the sum is the total.
    workers = worker_files(multiproc)
    assert len(workers) == 2, workers
    assert "counter_1.db" not in workers, "the directory was cleaned at start"
    # The database gauges come from the master alone: once, not once per worker.
    assert text.count("\ntestdash_db_up ") == 1 and get(after, "testdash_db_up") == 1
    assert "/metrics" not in " ".join(str(k) for k in after), "/metrics is not a route of the app"
    assert fetch(base + "/metrics") == 404, "the app port does not serve /metrics"
