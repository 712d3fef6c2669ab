"""Comparing runs: any two, the previous one by default, on the run page, its own page and the API."""

from datetime import timedelta

from testdash_models import db

from tests.web.readside import NOW, add_run, add_server, case_id


def row(name, status="passed", duration=0.1):
    out = {"name": name, "status": status, "duration": duration}
    if status in ("failed", "error"):
        out.update(message=f"{name} broke", type="AssertionError")
    return out


def seed_pair():
    """Base and head of one series, plus a run of another run_tag and an older base."""
    sid = add_server("ci")
    meta = {"run_tag": "nightly", "branch": "main"}
    older = add_run(sid, "n-0", NOW - timedelta(hours=3), [row("a")], **meta)
    base = add_run(
        sid,
        "n-1",
        NOW - timedelta(hours=2),
        [row("a"), row("b", "failed"), row("c", "failed"), row("gone"), row("slow", duration=1.0)],
        **meta,
    )
    add_run(sid, "other-tag", NOW - timedelta(hours=1), [row("a", "failed")], run_tag="weekly")
    head = add_run(
        sid,
        "n-2",
        NOW,
        [
            row("a", "failed"),
            row("b"),
            row("c", "error"),
            row("new", "failed"),
            row("slow", duration=5.0),
        ],
        **meta,
    )
    db.session.commit()
    return older, base, head


def names(items):
    return sorted(i["name"] for i in items)


def test_compare_api_sorts_every_test_into_its_category(browse):
    _, base, head = seed_pair()
    body = browse.get(f"/api/v1/runs/{base}/compare/{head}").get_json()
    changes = body["changes"]
    assert names(changes["new_failures"]) == ["a", "new"]
    assert names(changes["fixed"]) == ["b"]
    assert names(changes["still_failing"]) == ["c"]
    assert names(changes["new_tests"]) == ["new"]
    assert names(changes["removed_tests"]) == ["gone"]
    assert names(changes["slower"]) == ["slow"]
    assert body["counts"]["new_failures"] == 2 and body["base"]["id"] == base
    assert changes["new_failures"][0]["message"] == "a broke"


def test_default_comparison_is_against_the_previous_run_of_the_series(browse):
    older, base, head = seed_pair()
    body = browse.get(f"/api/v1/runs/{head}/compare").get_json()
    assert body["base"]["id"] == base, "same server + run_tag + branch, not the weekly run"
    assert browse.get(f"/api/v1/runs/{older}/compare").status_code == 404
    response = browse.get(f"/runs/{head}/compare")
    assert response.status_code == 302 and response.location.endswith(
        f"/runs/{base}/compare/{head}"
    )
    assert browse.get(f"/runs/{older}/compare").status_code == 404


def test_run_page_says_how_many_new_failures_since_the_previous_run(browse):
    _, base, head = seed_pair()
    page = browse.get(f"/runs/{head}").get_data(as_text=True)
    assert f"2 new failures since #{base}" in page
    assert f'href="/runs/{base}/compare/{head}"' in page


def test_compare_page_lists_the_changes_with_links(browse):
    _, base, head = seed_pair()
    page = browse.get(f"/runs/{base}/compare/{head}").get_data(as_text=True)
    assert 'id="new_failures"' in page and "New failures (2)" in page and "Slower (1)" in page
    assert f'href="/tests/{case_id("gone")}"' in page
    assert browse.get(f"/runs/{base}/compare/{base}").status_code == 400
    assert browse.get(f"/runs/{base}/compare/999999").status_code == 404
