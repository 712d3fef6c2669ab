"""Trend and ranking pages and API, read from roll-ups; team filters from the owners file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from testdash_engine.persist.rollups import roll_up_runs
from testdash_models import db
from testdash_models.models import Run

from tests.web.analytics_seed import seed_trends
from tests.web.readside import NOW, add_run, add_server, case_id, cases


def test_trend_page_and_api_bucket_runs_by_day(dash, browse):
    seed_trends(days=5)
    page = browse.get("/trends?days=10")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "build-linux · all run tags" in html and "<svg" in html
    html = browse.get("/trends?days=10&group=run_tag").get_data(as_text=True)
    assert "build-linux · nightly" in html and "all run tags" not in html
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


def test_series_per_server_add_up_its_run_tags_by_day_in_the_zone(dash, browse):
    # 23:30 UTC is the next day in Kolkata (UTC+5:30): days are cut in the zone asked for.
    late = datetime.combine(NOW.date() - timedelta(days=2), datetime.min.time(), UTC)
    late += timedelta(hours=23, minutes=30)
    for name in ("build-a", "build-b"):
        sid = add_server(name)
        for i, (tag, when, failing) in enumerate(
            [
                ("nightly", late, {1}),
                ("smoke", late + timedelta(minutes=20), set()),
                ("smoke", late + timedelta(hours=3), {0, 2}),
                (None, late - timedelta(hours=12), set()),
            ]
        ):
            add_run(sid, f"{name}-{i}", when, cases(3 + i, failing=failing), run_tag=tag)
    db.session.commit()
    roll_up_runs(db.session(), list(db.session.scalars(select(Run.id))))

    def get(**args):
        query = "&".join(f"{k}={v}" for k, v in {"days": 10, **args}.items())
        answer = browse.get(f"/api/v1/trends?{query}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    def days(series):
        return {p["day"]: (p["runs"], p["total"], p["failed"], p["tests"]) for p in series}

    kolkata = get(tz="Asia/Kolkata")
    assert kolkata["group"] == "server"
    assert [(s["server"], s["run_tag"], s["all_tags"]) for s in kolkata["series"]] == [
        ("build-a", None, True),
        ("build-b", None, True),
    ]
    first, second = ((late + timedelta(hours=h)).date().isoformat() for h in (0, 24))
    assert days(kolkata["series"][0]["points"]) == {first: (1, 6, 0, 6), second: (3, 12, 3, 5)}
    utc = get(tz="UTC", server="build-a")
    assert utc["group"] == "run_tag"
    by_tag = {s["run_tag"]: days(s["points"]) for s in utc["series"]}
    assert by_tag == {
        None: {first: (1, 6, 0, 6)},
        "nightly": {first: (1, 3, 1, 3)},
        "smoke": {first: (1, 4, 0, 4), second: (1, 5, 2, 5)},
    }
    merged = days(get(tz="UTC", server="build-a", group="server")["series"][0]["points"])
    assert merged == {first: (3, 13, 1, 6), second: (1, 5, 2, 5)}
    assert browse.get("/api/v1/trends?group=week").status_code == 400
    assert browse.get("/trends?group=week").status_code == 400


def test_the_page_charts_at_most_fifty_series_and_says_how_many_more(dash, browse):
    from testdash_web.views import trends as view

    sid = add_server("many-tags")
    for i in range(view.PAGE_SERIES + 3):
        add_run(sid, f"r{i}", NOW - timedelta(hours=1), cases(1), run_tag=f"tag-{i:03d}")
    db.session.commit()
    roll_up_runs(db.session(), list(db.session.scalars(select(Run.id))))
    html = browse.get("/trends?server=many-tags").get_data(as_text=True)
    assert html.count('<section class="trend"') == view.PAGE_SERIES
    assert "3 more series not shown" in html
    api = browse.get("/api/v1/trends?server=many-tags").get_json()
    assert len(api["series"]) == view.PAGE_SERIES + 3
    assert "more series" not in browse.get("/trends").get_data(as_text=True)
