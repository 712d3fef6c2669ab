"""Trend and ranking pages and API, read from roll-ups; team filters from the owners file."""

from __future__ import annotations

from tests.web.analytics_seed import seed_trends
from tests.web.readside import case_id


def test_trend_page_and_api_bucket_runs_by_day(dash, browse):
    seed_trends(days=5)
    page = browse.get("/trends?days=10")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "build-linux · nightly" in html and "<svg" in html
    body = browse.get("/api/v1/trends?days=10&server=build-linux").get_json()
    [series] = body["series"]
    assert series["run_tag"] == "nightly"
    assert [p["runs"] for p in series["points"]] == [1] * 5
    assert [p["failed"] for p in series["points"]] == [0, 1, 0, 1, 0]
    assert series["points"][1]["pass_rate"] == 0.75
    assert all(p["tests"] == 4 for p in series["points"])


def test_trends_reject_an_unknown_zone_and_a_silly_window(dash, browse):
    assert browse.get("/trends?tz=Mars/Olympus").status_code == 400
    assert browse.get("/api/v1/trends?days=0").status_code == 400
    assert browse.get("/api/v1/trends?tz=Asia/Kolkata").get_json()["tz"] == "Asia/Kolkata"


def test_rankings_of_failing_and_slowest_tests(dash, browse):
    seed_trends(days=5)
    failing = browse.get("/api/v1/trends/tests?kind=failing&days=30").get_json()["items"]
    assert [(t["name"], t["failures"], t["executions"]) for t in failing] == [("test_0002", 2, 5)]
    slowest = browse.get("/api/v1/trends/tests?kind=slowest").get_json()["items"]
    assert slowest[0]["name"] == "test_0001" and slowest[0]["mean_duration"] == 30.0
    html = browse.get("/trends/tests?kind=failing").get_data(as_text=True)
    assert f"/tests/{case_id('test_0002')}" in html


def test_rankings_filter_by_team_last_matching_rule_wins(dash, browse, tmp_path):
    owners = tmp_path / "OWNERS"
    owners.write_text(
        "# tests\nsuite/* @qa\nsuite/pkg.Tests/test_000? @core\n*/test_0002 @payments\n"
    )
    dash.config["OWNERS_FILE"] = str(owners)
    seed_trends(days=3)
    mine = browse.get("/api/v1/trends/tests?kind=slowest&team=@core").get_json()["items"]
    assert sorted(t["name"] for t in mine) == ["test_0000", "test_0001", "test_0003"]
    assert all(t["owners"] == ["@core"] for t in mine)
    theirs = browse.get("/api/v1/trends/tests?kind=failing&team=@payments").get_json()["items"]
    assert [t["name"] for t in theirs] == ["test_0002"]
    assert browse.get("/api/v1/trends/tests?team=@nobody").get_json()["items"] == []
