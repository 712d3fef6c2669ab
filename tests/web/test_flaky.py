"""Flaky tests: the ranking, the evidence on the test page, settings and overrides."""

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from testdash_engine.persist import rollups
from testdash_models import db
from testdash_models.config import ConfigError
from testdash_models.models import FlakySeries
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
    count_flaky()
    return runs


def count_flaky():
    """What the engine does when runs settle: count every series' flaky tests."""
    session = db.session()
    rollups.roll_up_series(session, rollups.all_series(session), rollups.flaky_config())


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


def test_the_test_page_shows_the_figures_of_the_ranking(browse):
    seed_flaky()
    ranked = browse.get("/api/v1/flaky").get_json()["items"]
    assert ranked
    for item in ranked:
        panel = browse.get(f"/api/v1/tests/{item['test_case_id']}/flakiness").get_json()["items"]
        (same,) = [p for p in panel if (p["server"], p["run_tag"]) == ("ci", "nightly")]
        same.pop("evidence")
        assert same == item


def seed_random(rng, servers=("ci", "qa")):
    """Series with and without run_tag and branch, skips, missing tests, retries, infra runs."""
    series = [("nightly", "main"), ("nightly", None), (None, "main"), ("smoke", "release")]
    names = [f"t{i:02d}" for i in range(14)]
    for server in servers:
        sid = add_server(server)
        for s, (tag, branch) in enumerate(series):
            for r in range(rng.randint(3, 14)):
                infra = rng.random() < 0.1
                rows = []
                for name in names:
                    draw = rng.random()
                    if draw < 0.08:
                        continue  # not run this time
                    if draw < 0.14:
                        rows.append({"name": name, "status": "skipped"})
                    elif infra or draw < 0.3:
                        rows.append(failed(name, status=rng.choice(["failed", "error"])))
                    elif draw < 0.38:
                        rows.append(failed(name, attempt=1, final=False))
                        rows.append(dict(passed(name), attempt=2, flaky=rng.random() < 0.5))
                    elif draw < 0.41:  # a pass flagged flaky by its report, no failed attempt
                        rows.append(dict(passed(name), flaky=True))
                    else:
                        rows.append(passed(name))
                # Some runs share a start, some have none: the order falls back on ids.
                started = None if rng.random() < 0.1 else NOW - timedelta(hours=40 - r // 2)
                add_run(sid, f"{server}-{s}-{r}", started, rows, run_tag=tag, branch=branch)
    db.session.commit()


def figures_of(found):
    return [
        (
            f.test_case_id,
            f.window.server,
            f.window.run_tag,
            f.window.branch,
            f.runs,
            f.failures,
            f.flips,
            f.retries,
            f.score,
            f.impact,
            f.rules,
        )
        for f in found
    ]


def evidence(found):
    return sorted(str((figures_of([f]), f.executions)) for f in found)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"ci": {"window": 6, "rules": "flips+rate,retries", "min_flips": 2}},
        {"qa/nightly": {"window": 4, "min_runs": 2, "infra_share": 0.2, "rules": "rate"}},
    ],
)
def test_the_engines_counts_equal_counting_from_the_results(dash, overrides):
    import random

    from testdash_web.queries import flaky

    dash.config["FLAKY_OVERRIDES"] = json.dumps(overrides)
    analysis.init_app(dash)
    seed_random(random.Random(len(json.dumps(overrides))))
    count_flaky()
    kept = flaky.ranking(None, None, None, 1000)
    assert kept, "the seed has flaky tests"
    counted = flaky.counted(flaky.windows(None, None, None))
    assert sorted(figures_of(kept), key=str) == sorted(figures_of(counted), key=str)
    impacts = [(-f.impact, -f.score, -f.test_case_id) for f in kept]
    assert impacts == sorted(impacts)
    for name in ("qa", "ci"):
        one = flaky.ranking(name, "nightly", None, 1000)
        mine = [f for f in figures_of(kept) if f[1:3] == (name, "nightly")]
        assert sorted(figures_of(one), key=str) == sorted(mine, key=str)
    every = flaky.windows(None, None, None)
    for test in {f.test for f in kept}:
        # The panel reads only the windows of the series the test ran in: the same as all.
        alone = flaky.analyse(every, [test.id])
        panel = flaky.for_test(test, None)
        assert evidence(panel) == evidence(alone)
    for found in kept[:10]:
        panel = [
            p
            for p in flaky.for_test(found.test, None)
            if (p.window.server, p.window.run_tag, p.window.branch)
            == (found.window.server, found.window.run_tag, found.window.branch)
        ]
        assert figures_of(panel) == figures_of([found])


def test_series_counted_with_other_settings_are_counted_by_the_web(dash, browse):
    seed_flaky()
    before = browse.get("/api/v1/flaky").get_json()["items"]
    session = db.session()
    session.execute(sa.update(FlakySeries).values(settings="{}"))
    session.commit()
    assert browse.get("/api/v1/flaky").get_json()["items"] == before
    assert rollups.stale_series(session, rollups.flaky_config())
    count_flaky()
    assert rollups.stale_series(session, rollups.flaky_config()) == []
