"""gunicorn settings come from the environment and access lines are JSON."""

import datetime
import importlib
import json
import logging

import pytest


def load(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from testdash_web import gunicorn_conf

    return importlib.reload(gunicorn_conf)


def test_workers_threads_and_timeouts_come_from_the_environment(monkeypatch):
    conf = load(monkeypatch, WEB_CONCURRENCY="3", GUNICORN_THREADS="8", GUNICORN_TIMEOUT="90")
    assert (conf.workers, conf.threads, conf.timeout) == (3, 8, 90)
    assert conf.graceful_timeout < 30, "finish before Kubernetes' default grace period ends"
    assert conf.worker_class == "gthread"


def test_a_bad_number_stops_gunicorn_with_the_variable_named(monkeypatch):
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY"):
        load(monkeypatch, WEB_CONCURRENCY="many")


def test_access_lines_are_json_whatever_the_path(monkeypatch, caplog):
    from gunicorn.config import Config

    conf = load(monkeypatch)
    config = Config()
    config.set("accesslog", "-")
    logger = conf.JsonAccessLogger(config)
    logger.access_log.propagate = True

    class Response:
        status = "404 NOT FOUND"
        sent = 12

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": '/runs/"<x>',
        "QUERY_STRING": "a=1",
        "REMOTE_ADDR": "10.0.0.1",
    }
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(Response(), None, environ, datetime.timedelta(milliseconds=25))
    line = json.loads(caplog.records[-1].getMessage())
    assert line["path"] == '/runs/"<x>' and line["status"] == 404 and line["duration_ms"] == 25.0
