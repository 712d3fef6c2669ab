"""The engine pushes what each run did to a Pushgateway; a failed push never fails the run."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families
from testdash_engine import metrics
from testdash_engine.cli import main
from testdash_engine.ingest import IngestStats

from tests.engine.trees import make_tree


@pytest.fixture
def database_url(sqlite_url):
    """Pushing does not depend on the database: SQLite only."""
    return sqlite_url


class FakeGateway(ThreadingHTTPServer):
    """Records each push: method, path and the parsed samples."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.pushes: list[tuple[str, str, dict]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class Handler(BaseHTTPRequestHandler):
    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }
        self.server.pushes.append((self.command, self.path, samples))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT = _record

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gateway(monkeypatch):
    server = FakeGateway()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PUSHGATEWAY_URL", server.url)
    yield server
    server.shutdown()
    server.server_close()


def value(samples, name, **labels):
    return samples[name, tuple(sorted(labels.items()))]


def test_run_pushes_its_figures_grouped_by_job_and_server(
    runner, gateway, tmp_path, junit_report, monkeypatch
):
    monkeypatch.setenv("INGEST_INTERVAL_SECONDS", "900")
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1) / "server0"
    result = runner.invoke(main, ["run", "--server", "lab-1", "--root", str(root)])
    assert result.exit_code == 0, result.output
    [(method, path, samples)] = gateway.pushes
    assert (method, path) == ("POST", "/metrics/job/testdash-engine/server/lab-1")
    assert value(samples, "testdash_engine_last_run_files", state="seen") == 2
    assert value(samples, "testdash_engine_last_run_files", state="new") == 2
    assert value(samples, "testdash_engine_last_run_files", state="rejected") == 0
    assert value(samples, "testdash_engine_last_run_results_written") == 2 * 28
    assert value(samples, "testdash_engine_last_run_outcome", outcome="success") == 1
    assert value(samples, "testdash_engine_last_run_outcome", outcome="failed") == 0
    assert value(samples, "testdash_engine_expected_interval_seconds") == 900
    assert value(samples, "testdash_engine_last_run_duration_seconds") > 0
    ended = value(samples, "testdash_engine_last_run_timestamp_seconds")
    assert value(samples, "testdash_engine_last_success_timestamp_seconds") == ended


def test_rejected_files_are_partial_and_do_not_move_the_success_clock(
    runner, gateway, tmp_path, junit_report
):
    root = make_tree(tmp_path / "vol", junit_report, runs=1, files=1) / "server0"
    (root / "build-000" / "reports" / "bad.xml").write_text("<testsuite>")
    result = runner.invoke(main, ["run", "--server", "lab", "--root", str(root)])
    assert result.exit_code == 1, "the CLI still exits 1 on rejected files"
    [(_, _, samples)] = gateway.pushes
    assert value(samples, "testdash_engine_last_run_files", state="rejected") == 1
    assert value(samples, "testdash_engine_last_run_outcome", outcome="partial") == 1
    assert ("testdash_engine_last_success_timestamp_seconds", ()) not in samples


def test_a_failed_item_pushes_failed_without_a_success_time(
    runner, gateway, tmp_path, junit_report
):
    import shutil

    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1) / "server0"
    assert runner.invoke(main, ["scan", "--server", "s", "--root", str(root)]).exit_code == 0
    shutil.rmtree(root / "build-000")
    result = runner.invoke(main, ["ingest", "--server", "s"])
    assert result.exit_code == 1
    [(method, path, samples)] = gateway.pushes
    assert path == "/metrics/job/testdash-engine/server/s"
    assert value(samples, "testdash_engine_last_run_outcome", outcome="failed") == 1
    assert ("testdash_engine_last_success_timestamp_seconds", ()) not in samples


def test_ingest_of_every_server_is_grouped_as_all(runner, gateway, tmp_path, junit_report):
    root = make_tree(tmp_path / "vol", junit_report, runs=1, files=1) / "server0"
    runner.invoke(main, ["scan", "--server", "s", "--root", str(root)])
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    assert [p for _, p, _ in gateway.pushes] == ["/metrics/job/testdash-engine/server/_all"]


def test_a_run_that_dies_pushes_failed_and_keeps_its_own_exit_status(
    runner, gateway, tmp_path, monkeypatch
):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("testdash_engine.cli._ingest", boom)
    (tmp_path / "vol").mkdir()
    result = runner.invoke(main, ["run", "--server", "s", "--root", str(tmp_path / "vol")])
    assert isinstance(result.exception, RuntimeError)
    [(_, _, samples)] = gateway.pushes
    assert value(samples, "testdash_engine_last_run_outcome", outcome="failed") == 1


def test_unreachable_gateway_is_a_warning_not_a_failed_ingest(
    runner, tmp_path, junit_report, monkeypatch, caplog
):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PUSHGATEWAY_URL", f"http://127.0.0.1:{port}")
    root = make_tree(tmp_path / "vol", junit_report, runs=1, files=1) / "server0"
    with caplog.at_level(logging.WARNING, logger="testdash.engine.metrics"):
        # the CLI's handler replaces caplog's on the testdash logger: listen on ours directly
        logging.getLogger("testdash.engine.metrics").addHandler(caplog.handler)
        try:
            result = runner.invoke(main, ["run", "--server", "s", "--root", str(root)])
        finally:
            logging.getLogger("testdash.engine.metrics").removeHandler(caplog.handler)
    assert result.exit_code == 0, result.output
    assert "could not push metrics" in caplog.text


def test_gateway_answering_an_error_is_a_warning(monkeypatch):
    class Refusing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        record = metrics.RunRecord("s", 0.0, IngestStats())
        assert metrics.push(record, f"http://127.0.0.1:{server.server_port}") is False
    finally:
        server.shutdown()
        server.server_close()


def test_no_url_means_no_push(monkeypatch):
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    assert metrics.push(metrics.RunRecord("s", 0.0, IngestStats())) is False


@pytest.mark.parametrize(("raw", "expected"), [("", 3600), ("600", 600), ("soon", 3600)])
def test_expected_interval_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("INGEST_INTERVAL_SECONDS", raw)
    assert metrics.interval_seconds() == expected
