"""Renames followed beyond history: rankings merge an old name's days, mutes cover every name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from testdash_engine.persist.rollups import roll_up_runs
from testdash_models import db
from testdash_models.identity import add_alias
from testdash_models.models import Quarantine, Run
from testdash_web.queries.compare import since_previous
from testdash_web.queries.quarantine import muted_test_ids

from tests.web.readside import NOW, add_run, add_server, case_id

DAY = timedelta(days=1)


def midnight(moment):
    return datetime.combine(moment.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)


def result(name, status="passed", duration=1.0):
    row = {"name": name, "status": status, "duration": duration}
    if status == "failed":
        row.update(message=f"{name} broke", type="AssertionError")
    return row


def alias(old, new, effective):
    add_alias(db.session(), case_id(old), case_id(new), effective, "test")


def roll_up():
    db.session.commit()
    roll_up_runs(db.session(), list(db.session.scalars(select(Run.id))))


def seed_rename():
    """old_name ran on days 0-2, new_name from day 3; a release branch still runs old_name."""
    ci, release = add_server("ci"), add_server("release")
    days = [NOW - (4 - d) * DAY for d in range(5)]
    runs = [
        [result("old_name", "failed", 10.0), result("steady", "failed")],
        [result("old_name", "failed", 10.0), result("steady", "failed")],
        [result("old_name", "passed", 10.0), result("steady")],
        [result("new_name", "passed", 20.0), result("steady")],
        [result("new_name", "failed", 20.0), result("steady")],
    ]
    for d, rows in enumerate(runs):
        add_run(ci, f"run{d}", days[d], rows, run_tag="nightly", branch="main")
    add_run(release, "rel", days[4], [result("old_name", "failed", 10.0)], branch="release/1")
    alias("old_name", "new_name", midnight(days[3]))
    roll_up()


def ranked(browse, kind, **args):
    query = "&".join(f"{k}={v}" for k, v in {"kind": kind, "days": 30, **args}.items())
    items = browse.get(f"/api/v1/trends/tests?{query}").get_json()["items"]
    return {t["name"]: t for t in items}


def test_rankings_merge_an_old_names_days_before_the_rename_into_the_new_name(browse):
    seed_rename()
    failing = ranked(browse, "failing")
    assert [(n, t["failures"], t["executions"]) for n, t in failing.items()] == [
        ("new_name", 3, 5),  # two failures as old_name before the rename, one since
        ("steady", 2, 5),
        ("old_name", 1, 1),  # the release branch's run after the rename keeps the old name
    ]
    assert failing["new_name"]["test_case_id"] == case_id("new_name")
    slowest = ranked(browse, "slowest", server="ci")
    assert slowest["new_name"]["mean_duration"] == (3 * 10.0 + 2 * 20.0) / 5
    assert "old_name" not in slowest, "on ci every old_name day is before the rename"
    html = browse.get("/trends/tests?kind=failing").get_data(as_text=True)
    assert f'href="/tests/{case_id("new_name")}"' in html


def test_rankings_follow_a_chain_of_renames_by_the_earliest_date(browse):
    ci = add_server("ci")
    days = [NOW - (4 - d) * DAY for d in range(5)]
    for d in range(5):
        name = ["a", "a", "a", "c", "c"][d]
        rows = [result(name, "failed" if name == "a" else "passed")]
        if d == 2:
            rows.append(result("b"))
        add_run(ci, f"run{d}", days[d], rows)
    # a -> b from day 3, b -> c from day 2: a's days 0-1 are c's, a's day 2 is b's.
    alias("a", "b", midnight(days[3]))
    alias("b", "c", midnight(days[2]))
    roll_up()
    failing = ranked(browse, "failing")
    assert {n: (t["failures"], t["executions"]) for n, t in failing.items()} == {
        "c": (2, 4),
        "b": (1, 2),
    }


def mute(test, **fields):
    entry = Quarantine(test_case_id=case_id(test), reason="known", created_by="admin", **fields)
    db.session.add(entry)
    db.session.commit()
    return entry.id


def test_a_mute_on_the_new_name_covers_the_old_name_for_ci_and_comparisons(browse):
    seed_rename()
    entry = mute("new_name")
    old, new = case_id("old_name"), case_id("new_name")
    assert muted_test_ids("release", "release/1") == {old, new}
    assert muted_test_ids("ci", None, NOW - 10 * DAY) == {old, new}, "covers earlier runs too"
    items = browse.get("/api/v1/quarantine?server=release&branch=release/1").get_json()["items"]
    assert [(i["id"], i["test_case_id"], i["name"]) for i in items] == [
        (entry, new, "new_name"),
        (entry, old, "old_name"),
    ]
    page = browse.get("/quarantine").get_data(as_text=True)
    assert "old_name" in page and "another name of the muted test" in page
    # The release run's old_name failure is muted when compared with its predecessor.
    release = db.session.scalar(select(Run.server_id).where(Run.run_dir == "rel"))
    base = add_run(release, "rel-0", NOW - 2 * DAY, [result("old_name")], branch="release/1")
    db.session.commit()
    head = db.session.scalar(select(Run.id).where(Run.run_dir == "rel"))
    body = browse.get(f"/api/v1/runs/{base}/compare/{head}").get_json()
    assert body["counts"]["new_failures"] == 0 and body["counts"]["muted"] == 1
    assert body["changes"]["muted"][0]["test_case_id"] == old
    since = since_previous(db.session.get(Run, head))  # the run page's "N new failures since"
    assert (since.id, since.new_failures) == (base, 0)


def test_a_mute_placed_before_the_rename_keeps_muting_the_new_name(browse):
    seed_rename()
    mute("old_name", branch="main")
    assert muted_test_ids("ci", "main") == {case_id("old_name"), case_id("new_name")}
    assert muted_test_ids("ci", "dev") == set()
    page = browse.get(f"/tests/{case_id('new_name')}").get_data(as_text=True)
    assert "Muted on all servers, main: known" in page
    run3, run4 = db.session.scalars(
        select(Run.id).where(Run.run_dir.in_(["run3", "run4"])).order_by(Run.id)
    )
    body = browse.get(f"/api/v1/runs/{run3}/compare/{run4}").get_json()
    assert body["counts"]["new_failures"] == 0
    assert [c["name"] for c in body["changes"]["muted"]] == ["new_name"]


def test_a_mute_does_not_spread_to_unrelated_tests(browse):
    seed_rename()
    mute("steady")
    assert muted_test_ids("ci", "main") == {case_id("steady")}
    items = browse.get("/api/v1/quarantine").get_json()["items"]
    assert [i["name"] for i in items] == ["steady"]


def test_compare_follows_a_rename_instead_of_removing_and_adding_the_test(browse):
    seed_rename()
    run2, run3, run4 = db.session.scalars(
        select(Run.id).where(Run.run_dir.in_(["run2", "run3", "run4"])).order_by(Run.id)
    )
    across = browse.get(f"/api/v1/runs/{run2}/compare/{run4}").get_json()
    assert across["counts"]["new_tests"] == across["counts"]["removed_tests"] == 0
    assert across["counts"]["new_failures"] == 1
    (change,) = across["changes"]["new_failures"]
    assert (change["name"], change["base_name"]) == ("new_name", "old_name")
    assert (change["base_status"], change["head_status"]) == ("passed", "failed")
    assert change["test_case_id"] == case_id("new_name")
    assert change["base_test_case_id"] == case_id("old_name")
    assert [c["name"] for c in across["changes"]["slower"]] == ["new_name"], "10 s then 20 s"
    page = browse.get(f"/runs/{run2}/compare/{run4}").get_data(as_text=True)
    assert "renamed from old_name" in page
    after = browse.get(f"/api/v1/runs/{run3}/compare/{run4}").get_json()
    assert after["changes"]["new_failures"][0]["base_name"] is None, "both runs use the new name"


def test_compare_keeps_both_names_when_the_head_still_has_the_old_one(browse):
    seed_rename()
    ci = db.session.scalar(select(Run.server_id).where(Run.run_dir == "run0"))
    base = db.session.scalar(select(Run.id).where(Run.run_dir == "run2"))
    both = [result("old_name"), result("new_name"), result("steady")]
    head = add_run(ci, "run5", NOW, both, run_tag="nightly", branch="main")
    db.session.commit()
    body = browse.get(f"/api/v1/runs/{base}/compare/{head}").get_json()
    assert [c["name"] for c in body["changes"]["new_tests"]] == ["new_name"]
    assert body["counts"]["removed_tests"] == 0


def test_compare_follows_a_chain_of_renames(browse):
    ci = add_server("ci")
    base = add_run(ci, "r0", NOW - 2 * DAY, [result("a", "failed")])
    head = add_run(ci, "r1", NOW, [result("c")])
    add_run(ci, "rb", NOW - DAY, [result("b")])
    alias("a", "b", NOW - DAY)
    alias("b", "c", NOW - DAY / 2)
    db.session.commit()
    body = browse.get(f"/api/v1/runs/{base}/compare/{head}").get_json()
    (fixed,) = body["changes"]["fixed"]
    assert (fixed["name"], fixed["base_name"]) == ("c", "a")
    assert body["counts"]["new_tests"] == body["counts"]["removed_tests"] == 0
