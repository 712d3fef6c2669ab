"""The JSON API: same filters as the pages, keyset pages that never skip or repeat, JSON errors."""

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from testdash_models import db
from testdash_web import create_app

from tests.web.readside import NOW, add_run, add_server, cases, seed_basic


def walk(browse, url):
    """Every item of a paginated endpoint, one item per page."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in url else "?"
        page = browse.get(f"{url}{sep}limit=1" + (f"&cursor={cursor}" if cursor else "")).json
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_servers_give_latest_run_trend_and_stale_flag(browse):
    seed_basic(runs_per_server=3)
    servers = {s["name"]: s for s in browse.get("/api/v1/servers").json["items"]}
    assert servers["qa-lab"]["stale"] and not servers["build-linux"]["stale"]
    assert servers["qa-lab"]["latest_run"]["run_dir"] == "qa-lab-run2"
    assert [round(p["pass_rate"], 2) for p in servers["qa-lab"]["trend"]] == [1.0, 0.9, 0.9]


def test_runs_keyset_pages_cover_every_run_once_in_every_sort(browse):
    seeded = seed_basic(runs_per_server=4)
    sid = seeded.servers["build-linux"]
    # Ties and NULLs: equal failure counts, no start time, no duration.
    add_run(sid, "no-start", None, cases(3, failing={0}))
    db.session.commit()
    full = browse.get("/api/v1/runs?limit=500").json["items"]
    assert full[-1]["run_dir"] == "no-start", "runs without a start time sort last"
    for sort in ("-started_at", "started_at", "-failed", "failed", "-duration", "total"):
        walked = walk(browse, f"/api/v1/runs?sort={sort}")
        assert len(walked) == len(full) == len({r["id"] for r in walked}), sort
        ordered = browse.get(f"/api/v1/runs?sort={sort}&limit=500").json["items"]
        assert [r["id"] for r in walked] == [r["id"] for r in ordered], sort


def test_runs_api_uses_the_pages_filters(browse):
    seed_basic()
    runs = browse.get("/api/v1/runs?server=qa-lab&status=failed&owner=platform").json["items"]
    assert {r["run_dir"] for r in runs} == {"qa-lab-run1", "qa-lab-run2"}
    since = (NOW - timedelta(hours=13)).isoformat()
    recent = browse.get("/api/v1/runs", query_string={"since": since}).json["items"]
    assert {r["run_dir"] for r in recent} == {"qa-lab-run2", "build-linux-run2"}
    assert len(browse.get("/api/v1/runs?tag=regression").json["items"]) == 3


def test_run_detail_and_every_result_page(browse):
    seeded = seed_basic(size=7)
    detail = browse.get(f"/api/v1/runs/{seeded.runs[1]}").json
    assert detail["run"]["failed"] == 1 and detail["files"][0]["format"] == "junit"
    assert [f["message"] for f in detail["failures"]] == ["boom 2"]
    results = walk(browse, f"/api/v1/runs/{seeded.runs[1]}/results")
    assert len(results) == 7 and results[2]["trace"] == "trace 2"
    failed = browse.get(f"/api/v1/runs/{seeded.runs[1]}/results?status=failed").json["items"]
    assert [r["name"] for r in failed] == ["test_0002"]


def test_run_detail_gives_the_reports_own_zone_beside_utc(browse):
    sid = add_server("zones")
    stated = add_run(sid, "stated", NOW, [], start_utc_offset=120, end_utc_offset=-330)
    naive = add_run(sid, "naive", NOW, [], start_assumed_zone="America/New_York")
    epoch = add_run(sid, "epoch", NOW, [])
    db.session.commit()
    run = browse.get(f"/api/v1/runs/{stated}").json["run"]
    assert (run["start_utc_offset"], run["end_utc_offset"]) == (120, -330)
    assert run["source_started_at"] == NOW.astimezone(timezone(timedelta(hours=2))).isoformat()
    end = NOW + timedelta(minutes=5)
    assert run["source_finished_at"] == end.astimezone(timezone(-timedelta(hours=5.5))).isoformat()
    run = browse.get(f"/api/v1/runs/{naive}").json["run"]
    assert (run["start_utc_offset"], run["start_assumed_zone"]) == (None, "America/New_York")
    assert run["source_started_at"] == NOW.astimezone(ZoneInfo("America/New_York")).isoformat()
    assert run["source_finished_at"] is None
    run = browse.get(f"/api/v1/runs/{epoch}").json["run"]
    assert run["source_started_at"] is run["start_assumed_zone"] is run["start_utc_offset"] is None
    assert run["started_at"] == NOW.isoformat()


def test_test_history_and_when_it_started_failing(browse):
    seeded = seed_basic(runs_per_server=3)
    tid = seeded.tests["test_0002"]
    detail = browse.get(f"/api/v1/tests/{tid}").json
    assert detail["test"]["name"] == "test_0002"
    assert detail["failing_since"]["run_dir"].endswith("-run1")
    assert detail["failing_since"]["message"] == "boom 2"
    history = walk(browse, f"/api/v1/tests/{tid}/history?server=qa-lab")
    assert [h["status"] for h in history] == ["failed", "failed", "passed"]
    assert browse.get(f"/api/v1/tests/{seeded.tests['test_0000']}").json["failing_since"] is None


def test_search_matches_substrings_literally(browse):
    seed_basic()
    sid = add_server("odd")
    add_run(sid, "odd-1", NOW, [{"name": "test_100%_sure", "status": "passed"}])
    db.session.commit()
    names = [t["name"] for t in browse.get("/api/v1/search/tests?q=0%25_").json["items"]]
    assert names == ["test_100%_sure"]
    assert len(walk(browse, "/api/v1/search/tests?q=TEST_00")) == 10
    assert browse.get("/api/v1/search/tests?q=ab").status_code == 400


def test_ingest_status_and_its_lists(browse):
    seed_basic()
    status = browse.get("/api/v1/ingest").json
    assert status["queue_counts"]["pending"] == 1 and status["queue"][0]["run_dir"] == "qa-lab-next"
    assert {s["name"]: s["stale"] for s in status["servers"]} == {
        "build-linux": False,
        "qa-lab": True,
    }
    assert browse.get("/api/v1/ingest/queue?state=done").json == {"items": [], "next_cursor": None}
    assert browse.get("/api/v1/ingest/jobs").json["items"] == []
    assert browse.get("/api/v1/ingest/rejected-files").json["items"] == []


def test_errors_are_json_with_the_reason(browse):
    assert browse.get("/api/v1/runs?limit=0").json["message"].startswith("limit must be between")
    assert browse.get("/api/v1/runs?cursor=%22").status_code == 400
    assert browse.get("/api/v1/runs/424242").json == {
        "error": "Not Found",
        "message": "no run 424242",
    }
    assert browse.get(f"/api/v1/runs/{2**70}").status_code == 404
    assert browse.get("/api/v1/nothing-here").is_json
    assert browse.get("/api/v1/runs?server=a%00b").status_code == 400


def test_proxy_fix_is_configured_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PROXY_FIX_X_FOR", "1")
    monkeypatch.setenv("PROXY_FIX_X_PROTO", "1")
    app = create_app("testing")

    @app.get("/_peer")
    def peer():
        from flask import request

        return {"addr": request.remote_addr, "scheme": request.scheme}

    response = app.test_client().get(
        "/_peer", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    assert response.json == {"addr": "203.0.113.9", "scheme": "https"}


def test_test_name_search_uses_the_trigram_index_on_postgresql(dash):
    if db.engine.dialect.name != "postgresql":
        return
    query = sa.text("EXPLAIN SELECT id FROM test_cases WHERE name ILIKE :pattern")
    with db.engine.connect() as conn:
        conn.execute(sa.text("SET enable_seqscan = off"))
        plan = conn.execute(query, {"pattern": "%auth_0%"}).scalars().all()
    assert any("ix_test_cases_name_trgm" in line for line in plan), plan
