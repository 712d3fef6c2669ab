"""Rename aliases: made on the test page (admin, CSRF) or the CLI; history follows the test."""

from __future__ import annotations

from datetime import timedelta

from testdash_engine.cli import main
from testdash_models import db
from testdash_models.models import TestAlias

from tests.web.readside import NOW, add_run, add_server, case_id
from tests.web.writeside import csrf_from, make_token, sign_in


def seed_rename(app):
    """test_old ran in the first two runs, then was renamed test_new."""
    with app.app_context():
        sid = add_server("build-linux")
        for i, name in enumerate(("test_old", "test_old", "test_new")):
            started = NOW - timedelta(days=3 - i)
            add_run(sid, f"run{i}", started, [{"name": name, "status": "passed", "duration": 1.0}])
        db.session.commit()


def test_admin_adds_an_alias_from_the_test_page_and_history_follows(web, client):
    seed_rename(web)
    new = case_id("test_new")
    sign_in(client, make_token(web, "admin", "admin"))
    page = client.get(f"/tests/{new}").get_data(as_text=True)
    form = {
        "csrf_token": csrf_from(page),
        "old_suite": "suite",
        "old_classname": "pkg.Tests",
        "old_name": "test_old",
        "effective_from": (NOW - timedelta(hours=12)).date().isoformat(),
    }
    assert client.post(f"/tests/{new}/aliases", data=form).status_code == 303
    history = client.get(f"/api/v1/tests/{new}/history").get_json()["items"]
    assert [row["run_dir"] for row in history] == ["run2", "run1", "run0"]
    aliases = client.get(f"/api/v1/tests/{new}/aliases").get_json()
    assert aliases["renamed_from"][0]["old_id"] == case_id("test_old")
    old_page = client.get(f"/tests/{case_id('test_old')}").get_data(as_text=True)
    assert "Renamed to" in old_page
    again = client.post(f"/tests/{new}/aliases", data=form, follow_redirects=True)
    assert "already renamed" in again.get_data(as_text=True)


def test_alias_needs_an_admin_and_a_csrf_token(web, client):
    seed_rename(web)
    new = case_id("test_new")
    anonymous = client.post(f"/tests/{new}/aliases", data={"old_id": "1"})
    assert anonymous.status_code == 400, "no session, no CSRF token: refused before anything"
    sign_in(client, make_token(web, "admin", "admin"))
    assert client.post(f"/tests/{new}/aliases", data={"old_id": "1"}).status_code == 400
    uploader = make_token(web, "ci", "upload")
    denied = client.post(
        f"/tests/{new}/aliases",
        data={"old_id": "1"},
        headers={"Authorization": f"Bearer {uploader}"},
    )
    assert denied.status_code == 403


def test_cli_alias_by_names_and_by_ids_refuses_cycles(web):
    seed_rename(web)
    runner = web.test_cli_runner()
    names = ["suite", "pkg.Tests", "test_old", "suite", "pkg.Tests", "test_new"]
    result = runner.invoke(main, ["alias", *names, "--from", NOW.date().isoformat()])
    assert result.exit_code == 0, result.output
    old, new = case_id("test_old"), case_id("test_new")
    with web.app_context():
        alias = db.session.scalar(db.select(TestAlias))
        assert (alias.old_id, alias.new_id) == (old, new)
    cycle = runner.invoke(main, ["alias", "--ids", str(new), str(old), "--from", "2026-01-01"])
    assert cycle.exit_code == 1 and "cycle" in cycle.output
    unknown = runner.invoke(main, ["alias", "--ids", "1", str(new), "--from", "2026-01-01"])
    assert unknown.exit_code == 1 and "no test 1" in unknown.output
    assert runner.invoke(main, ["alias", "a", "b", "--from", "2026-01-01"]).exit_code == 2
