"""Quarantine: admins mute tests; muted failures stand apart; CI reads the list; owners shown."""

from __future__ import annotations

from datetime import timedelta

from testdash_models import db
from testdash_models.models import Quarantine
from testdash_web.queries.quarantine import muted_test_ids

from tests.web.readside import NOW, add_run, add_server, case_id, cases
from tests.web.writeside import csrf_from, make_token, sign_in


def seed(app):
    with app.app_context():
        sid = add_server("build-linux")
        run = add_run(
            sid, "run0", NOW - timedelta(hours=1), cases(4, failing={1, 2}), branch="main"
        )
        db.session.commit()
        return run


def mute(client, test_id, **fields):
    page = client.get(f"/tests/{test_id}").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "reason": "flaky on ARM", "days": "7", **fields}
    return client.post(f"/tests/{test_id}/quarantine", data=data)


def test_admin_mutes_a_test_and_ci_reads_it(web, client):
    seed(web)
    sign_in(client, make_token(web, "admin", "admin"))
    assert (
        mute(client, case_id("test_0001"), server="build-linux", branch="main").status_code == 303
    )
    items = client.get("/api/v1/quarantine?server=build-linux&branch=main").get_json()["items"]
    assert [(i["name"], i["reason"], i["created_by"]) for i in items] == [
        ("test_0001", "flaky on ARM", "admin")
    ]
    assert client.get("/api/v1/quarantine?server=build-linux&branch=dev").get_json()["items"] == []
    assert "test_0001" in client.get("/quarantine").get_data(as_text=True)
    with web.app_context():
        assert muted_test_ids("build-linux", "main", NOW) == {case_id("test_0001")}
        assert muted_test_ids("build-linux", "main", NOW - timedelta(days=1)) == {
            case_id("test_0001")
        }
        assert muted_test_ids("qa-lab", None, NOW) == set()
        assert muted_test_ids("build-linux", "main", NOW + timedelta(days=8)) == set()


def test_muted_failures_are_shown_apart_on_the_run_page_with_owners(web, client, tmp_path):
    run = seed(web)
    (tmp_path / "OWNERS").write_text("* @qa\n*/test_0002 @payments\n")
    web.config["OWNERS_FILE"] = str(tmp_path / "OWNERS")
    sign_in(client, make_token(web, "admin", "admin"))
    mute(client, case_id("test_0001"))
    html = client.get(f"/runs/{run}").get_data(as_text=True)
    failures, muted = html.split('id="muted"')
    assert "Failures (1)" in failures and "test_0002" in failures.split('id="failures"')[1]
    assert "test_0001" in muted and "@qa" in muted and "@payments" in failures
    mine = client.get(f"/runs/{run}?team=@qa").get_data(as_text=True)
    assert "Failures (0)" in mine


def test_muting_needs_an_admin_csrf_and_a_reason(web, client):
    seed(web)
    test = case_id("test_0001")
    assert client.post(f"/tests/{test}/quarantine", data={"reason": "x"}).status_code == 400
    ci = make_token(web, "ci", "upload")
    as_ci = client.post(
        f"/tests/{test}/quarantine", data={"reason": "x"}, headers={"Authorization": f"Bearer {ci}"}
    )
    assert as_ci.status_code == 403
    sign_in(client, make_token(web, "admin", "admin"))
    assert client.post(f"/tests/{test}/quarantine", data={"reason": "x"}).status_code == 400
    refused = mute(client, test, reason="", days="7")
    assert refused.status_code == 303
    with web.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Quarantine)) == 0


def test_a_lifted_mute_no_longer_counts(web, client):
    seed(web)
    sign_in(client, make_token(web, "admin", "admin"))
    mute(client, case_id("test_0001"))
    with web.app_context():
        entry_id = db.session.scalar(db.select(Quarantine.id))
    page = client.get(f"/tests/{case_id('test_0001')}").get_data(as_text=True)
    lifted = client.post(f"/quarantine/{entry_id}/lift", data={"csrf_token": csrf_from(page)})
    assert lifted.status_code == 303
    assert client.get("/api/v1/quarantine").get_json()["items"] == []
