"""Flaky tests: the ranking, the evidence on the test page, settings and overrides."""

import json
from datetime import timedelta

import pytest
from flask import Flask
from testdash_models import db
from testdash_models.config import ConfigError
from testdash_web import analysis

from tests.web.readside import NOW, add_run, add_server, case_id

FLIP = [i % 2 == 0 for i in range(8)]  # passes on even runs, fails on odd ones


def passed(name):
    return {"name": name, "status": "passed", "duration": 0.1}


def failed(name, **extra):
    return {"name": name, "status": "failed", "message": f"{name} boom", "type": "E", **extra}


def seed_flaky():
    """Eight nightly runs: test_flip alternates, test_retry passes on retry twice,
    test_broken breaks for good halfway, and one run where everything failed (infrastructure)."""
    sid = add_server("ci")
    runs = []
    for r in range(8):
        rows = [passed(f"stable_{i}") for i in range(6)]
        rows.append(passed("test_flip") if FLIP[r] else failed("test_flip"))
        if r in (2, 5):
            rows += [
                failed("test_retry", attempt=1, final=False),
                dict(passed("test_retry"), attempt=2, flaky=True),
            ]
        else:
            rows.append(passed("test_retry"))
        rows.append(passed("test_broken") if r < 4 else failed("test_broken"))
        started = NOW - timedelta(hours=10 - r)
        runs.append(add_run(sid, f"night-{r}", started, rows, run_tag="nightly", branch="main"))
    infra = [failed(f"stable_{i}") for i in range(6)] + [passed("test_flip")]
    runs.append(
        add_run(
            sid, "night-infra", NOW - timedelta(minutes=30), infra, run_tag="nightly", branch="main"
        )
    )
    db.session.commit()
    return runs


def test_flaky_page_ranks_flipping_and_retried_tests_and_leaves_out_real_breaks(browse):
    seed_flaky()
    page = browse.get("/flaky").get_data(as_text=True)
    assert "test_flip" in page and "test_retry" in page
    assert "test_broken" not in page, "one flip is a regression, not flakiness"
    assert page.index("test_flip") < page.index("test_retry"), "ranked by impact"
    items = browse.get("/api/v1/flaky").get_json()["items"]
    assert [i["name"] for i in items] == ["test_flip", "test_retry"]
    flip = items[0]
    assert flip["executions"] == 8 and flip["failures"] == 4 and flip["flips"] == 7
    assert flip["rules"] == "flips" and flip["score"] == 1.0 and flip["impact"] == 8.0
    assert items[1]["retries"] == 2 and items[1]["rules"] == "retries"
    assert items[1]["server"] == "ci" and items[1]["run_tag"] == "nightly"


def test_flaky_filters_narrow_the_ranking(browse):
    seed_flaky()
    assert browse.get("/api/v1/flaky?server=ci&branch=main").get_json()["items"]
    assert browse.get("/api/v1/flaky?branch=release").get_json()["items"] == []
    assert "No flaky tests" in browse.get("/flaky?run_tag=weekly").get_data(as_text=True)


def test_test_page_shows_score_and_the_runs_that_prove_it(browse):
    runs = seed_flaky()
    test = case_id("test_retry")
    page = browse.get(f"/tests/{test}").get_data(as_text=True)
    assert 'id="flakiness"' in page and "passed on attempt 2" in page
    found = browse.get(f"/api/v1/tests/{test}/flakiness").get_json()["items"]
    (group,) = found
    assert group["flaky"] and group["retries"] == 2
    retried = [e["run_id"] for e in group["evidence"] if e["retried"]]
    assert retried == [runs[2], runs[5]]
    flip = browse.get(f"/api/v1/tests/{case_id('test_flip')}/flakiness").get_json()["items"][0]
    assert runs[-1] not in [e["run_id"] for e in flip["evidence"]], "infrastructure run left out"
    assert [e["flipped"] for e in flip["evidence"]] == [False] + [True] * 7


def test_a_lower_infrastructure_threshold_and_overrides_per_server(dash, browse):
    seed_flaky()
    strict = analysis.FlakySettings(min_flips=8)
    dash.extensions["testdash.analysis"] = analysis.Analysis(
        analysis.FlakySettings(), {"ci/nightly": strict}, 1.5, 1.0
    )
    names = [i["name"] for i in browse.get("/api/v1/flaky").get_json()["items"]]
    assert names == ["test_retry"]


def test_settings_come_from_config_and_environment_and_bad_ones_fail(monkeypatch):
    app = Flask(__name__)
    app.config.update(
        FLAKY_WINDOW=30,
        FLAKY_RULES="flips+rate,retries",
        FLAKY_MIN_RUNS=5,
        FLAKY_OVERRIDES=json.dumps({"qa": {"window": 10}, "qa/nightly": {"rules": "rate"}}),
    )
    monkeypatch.setenv("FLAKY_MIN_RUNS", "3")
    loaded = analysis.load(app)
    assert loaded.flaky.rules == (("flips", "rate"), ("retries",)) and loaded.flaky.min_runs == 3
    assert loaded.flaky_for("qa", "nightly").rules == (("rate",),)
    assert loaded.flaky_for("qa", None).window == 10 and loaded.flaky_for("x", None).window == 30
    app.config["FLAKY_OVERRIDES"] = json.dumps({"qa": {"windw": 3}})
    with pytest.raises(ConfigError, match="windw"):
        analysis.load(app)
    app.config["FLAKY_OVERRIDES"] = ""
    app.config["FLAKY_RULES"] = "sometimes"
    with pytest.raises(ConfigError, match="unknown rules"):
        analysis.load(app)
