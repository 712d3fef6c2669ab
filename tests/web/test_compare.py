"""Comparing runs: any two, the previous one by default, on the run page, its own page and the API."""

import re
from datetime import timedelta

from testdash_models import db
from testdash_models.models import Quarantine, Run, Server
from testdash_web.queries.compare import since_previous

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


def test_muted_failures_are_apart_and_not_new(browse):
    _, base, head = seed_pair()
    sid = db.session.scalar(db.select(Server.id).where(Server.name == "ci"))
    db.session.add(
        Quarantine(test_case_id=case_id("a"), server_id=sid, reason="known", created_by="admin")
    )
    db.session.commit()
    body = browse.get(f"/api/v1/runs/{base}/compare/{head}").get_json()
    assert names(body["changes"]["new_failures"]) == ["new"]
    assert names(body["changes"]["muted"]) == ["a"] and body["counts"]["muted"] == 1
    page = browse.get(f"/runs/{base}/compare/{head}").get_data(as_text=True)
    assert "Muted failures (1)" in page and "New failures (1)" in page
    assert since_previous(db.session.get(Run, head)).new_failures == 1


def picker_rows(html):
    return [int(i) for i in re.findall(r'<tr id="pick-(\d+)"', html)]


def checked(html, side):
    return [int(i) for i in re.findall(rf'name="{side}" value="(\d+)"[^>]*checked', html)]


def test_run_picker_lists_a_groups_recent_runs_and_suggests_the_last_two(browse):
    older, base, head = seed_pair()
    page = browse.get("/compare?server=ci&run_tag=nightly")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and picker_rows(html) == [head, base, older]
    assert checked(html, "head") == [head] and checked(html, "base") == [base]
    assert "<option selected>nightly</option>" in html and "<option>weekly</option>" in html
    everything = browse.get("/compare").get_data(as_text=True)
    assert len(picker_rows(everything)) == 4
    assert checked(everything, "base") == [base], "the head's own series, not the weekly run"


def test_run_picker_sends_a_good_pair_to_its_comparison_a_typed_id_winning(browse):
    older, base, head = seed_pair()
    listed = browse.get(f"/compare?server=ci&base={older}&base=&head={head}&head=")
    assert listed.status_code == 302
    assert listed.location.endswith(f"/runs/{older}/compare/{head}")
    typed = browse.get(f"/compare?base={older}&base=%23{base}&head={head}&head=")
    assert typed.location.endswith(f"/runs/{base}/compare/{head}")
    page = browse.get(typed.location).get_data(as_text=True)
    assert 'id="change-runs"' in page and f'name="base" value="{base}"' in page
    assert f"/compare?server=ci&amp;run_tag=nightly&amp;base={base}&amp;head={head}" in page


def test_run_picker_explains_a_bad_choice_on_the_page(browse):
    older, base, head = seed_pair()
    cases = [
        (f"base=&head={head}", 400, "Choose a base run"),
        ("base=&head=", 400, "Choose a base and head run"),
        (f"base=abc&head={head}", 400, "is not a run id"),
        (f"base=99999999999999999999999&head={head}", 400, "is not a run id"),
        (f"base=999999&head={head}", 404, "There is no run #999999."),
        (f"base={base}&head={base}", 400, f"Base and head are both run #{base}"),
    ]
    for query, status, message in cases:
        response = browse.get(f"/compare?{query}")
        html = response.get_data(as_text=True)
        assert response.status_code == status, query
        assert 'role="alert"' in html and message in html, query
        assert 'id="pick-runs"' in html, "the picker stays usable"


def test_run_picker_from_one_run_opens_its_group_and_keeps_a_choice(browse):
    older, base, head = seed_pair()
    html = browse.get(f"/compare?head={head}").get_data(as_text=True)
    assert "<option selected>ci</option>" in html and picker_rows(html) == [head, base, older]
    assert checked(html, "head") == [head] and checked(html, "base") == [base]
    other = browse.get(f"/compare?server=ci&run_tag=weekly&base={older}&head={head}&show=1")
    kept = other.get_data(as_text=True)
    assert other.status_code == 200, "showing another group does not compare yet"
    assert picker_rows(kept)[:2] == [older, head], "chosen runs stay listed above the group"
    assert checked(kept, "base") == [older] and checked(kept, "head") == [head]
    previous = browse.get(f"/runs/{older}/compare").get_data(as_text=True)
    assert f'href="/compare?head={older}"' in previous


def test_every_page_links_to_the_picker_and_marks_it_current_there(browse):
    assert 'href="/compare">Compare</a>' in browse.get("/").get_data(as_text=True)
    page = browse.get("/compare").get_data(as_text=True)
    assert 'href="/compare" class="current">Compare</a>' in page
