"""Browser journey: sign in with an admin token, upload a report, see it waiting, sign out."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.web.writeside import junit, make_token

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def live(sqlite_url, tmp_path, monkeypatch):
    from testdash_web import create_app

    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": sqlite_url})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.slow
def test_sign_in_upload_and_sign_out_in_chromium(live, tmp_path):
    app, base = live
    secret = make_token(app, "ops", "admin")
    report = tmp_path / "TEST-journey.xml"
    report.write_bytes(junit("journey"))
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/uploads")
        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("Token").fill(secret)
        page.get_by_role("button", name="Sign in").click()
        assert page.url.endswith("/uploads")
        assert page.get_by_text("Signed in as ops.").is_visible()
        page.get_by_label("Server").fill("browser-lab")
        page.get_by_label("Run directory").fill("journey-1")
        page.get_by_label("Files or a .zip / .tar.gz").set_input_files(str(report))
        page.get_by_role("button", name="Upload").click()
        assert "/uploads/" in page.url
        assert page.locator(".upload-state").inner_text() == "pending"
        assert page.get_by_role("cell", name="TEST-journey.xml").is_visible()
        page.get_by_role("button", name="Sign out").click()
        page.goto(f"{base}/uploads")
        assert page.get_by_role("link", name="Sign in").is_visible()
        browser.close()
    assert errors == [], "no CSP violations or script errors"
