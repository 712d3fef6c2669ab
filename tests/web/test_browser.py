"""The main journeys in real Chromium (Playwright), against the app served on a real socket."""

import pathlib
import re
import threading

import pytest
from testdash_engine import create_app as create_engine_app
from testdash_engine.cli import main as engine_cli
from testdash_models import db
from testdash_web import create_app
from werkzeug.serving import make_server

from tests.web.readside import NOW, add_run, add_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not pathlib.Path(CHROMIUM).exists(), reason=f"needs Chromium at {CHROMIUM}"),
]
MARK = "window.__xss = 1"
PAYLOADS = [
    f"<script>{MARK}</script>",
    f'<img src=x onerror="{MARK}">',
    f'"><svg onload="{MARK}">',
    f"javascript:{MARK}",
    "</pre><script>alert(1)</script><pre>",
]


@pytest.fixture
def live(pg_url, tmp_path, monkeypatch):
    """The demo's three servers plus a run full of XSS payloads, served on a free port."""
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path / "instance"))
    engine = create_engine_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": pg_url})
    with engine.app_context():
        result = engine.test_cli_runner().invoke(
            engine_cli, ["demo", "--root", str(tmp_path / "demo"), "--runs", "4"]
        )
        assert result.exit_code in (0, 1), result.output  # 1: the demo's truncated file is rejected
        sid = add_server(PAYLOADS[1])
        results = [
            {
                "name": p,
                "classname": p,
                "suite": p,
                "status": "failed",
                "message": p,
                "type": p[:500],
                "trace": p,
                "stdout": p,
                "stderr": p,
            }
            for p in PAYLOADS
        ]
        xss_run = add_run(
            sid,
            PAYLOADS[0],
            NOW,
            results,
            run_tag=PAYLOADS[3],
            user_tag=PAYLOADS[2],
            branch=PAYLOADS[4],
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": pg_url})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "xss_run": xss_run}
    server.shutdown()
    thread.join(5)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(5000)
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def test_overview_to_run_to_failing_test_to_its_history(live, page):
    page.goto(live["url"] + "/")
    demo = page.locator("#servers tbody tr", has_not_text="__xss")
    row = demo.filter(has=page.locator(".badge.failed")).first
    server = row.locator("td:first-child a").inner_text()
    row.locator("td:nth-child(2) a").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    assert page.locator("h2").first.inner_text().startswith(server)
    failure = page.locator("#failures ~ .failure").first
    name = failure.locator("h3 a").inner_text()
    assert "AssertionError" in failure.locator("pre.message").inner_text()
    failure.locator("summary", has_text="Trace").click()
    assert failure.locator("pre.trace").is_visible()
    failure.locator("h3 a").click()
    page.wait_for_url(re.compile(r"/tests/-?\d+$"))
    assert page.locator("h2.test-name").inner_text() == name
    strip = page.locator("#status-strip a")
    assert strip.count() >= 4 and page.locator("#status-strip a.failed").count() >= 1
    assert page.locator("#history tbody tr").count() == strip.count()
    assert "AssertionError" in page.locator("#messages").inner_text()
    page.locator("#status-strip a.failed").last.click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    assert page.get_by_role("link", name=name).count() >= 1
    assert page.errors == [] and page.dialogs == []


def test_filters_are_a_shareable_url(live, page):
    page.goto(live["url"] + "/runs")
    page.select_option("select[name=server]", "qa-lab")
    page.select_option("select[name=status]", "failed")
    page.select_option("select[name=sort]", "started_at")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"server=qa-lab"))
    assert "status=failed" in page.url and "sort=started_at" in page.url
    servers = page.locator("#runs tbody td:first-child").all_inner_texts()
    assert servers and set(servers) == {"qa-lab"}
    page.goto(page.url)  # the same URL in a fresh load shows the same state
    assert page.locator("select[name=server]").input_value() == "qa-lab"
    assert page.locator("select[name=status]").input_value() == "failed"
    csv_link = page.get_by_role("link", name="CSV").get_attribute("href")
    assert "server=qa-lab" in csv_link and "status=failed" in csv_link
    page.get_by_role("link", name="Clear").click()
    assert page.url.endswith("/runs")


def test_times_show_in_the_viewers_zone_with_utc_on_hover(live, page):
    page.goto(live["url"] + "/runs")
    when = page.locator("#runs time").first
    assert when.get_attribute("title").endswith("UTC")
    assert "UTC" not in when.inner_text() and "+9" in when.inner_text()  # Asia/Tokyo, GMT+9


def test_dark_mode_follows_the_system(live, chromium):
    context = chromium.new_context(color_scheme="dark")
    page = context.new_page()
    page.goto(live["url"] + "/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    context.close()
    assert background == "rgb(13, 17, 23)"


def test_xss_payloads_are_shown_as_text_and_never_run(live, page):
    response = page.goto(live["url"] + f"/runs/{live['xss_run']}")
    csp = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    for summary in page.locator("details summary").all():
        summary.click()
    assert page.locator("pre.trace").first.inner_text() == PAYLOADS[0]
    test_url = page.locator(".failure h3 a").first.get_attribute("href")
    for path in [
        "/",
        "/runs",
        f"/runs/{live['xss_run']}",
        test_url,
        "/search?q=script",
        "/search?q=javascript:",
        "/ingest",
    ]:
        page.goto(live["url"] + path)
        page.wait_for_load_state("load")
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("a[href^='javascript:']").count() == 0, path
        assert page.locator("img[src=x], svg[onload], script:not([src])").count() == 0, path
    page.goto(live["url"] + f"/runs/{live['xss_run']}")
    assert page.get_by_text(PAYLOADS[1], exact=True).count() >= 1
    assert page.dialogs == [] and page.errors == []


def test_a_big_runs_suite_loads_its_cases_when_opened_and_links_without_script(
    live, page, chromium, monkeypatch
):
    from testdash_web.queries import run_page

    monkeypatch.setattr(run_page, "INLINE_CASES", 0)  # every run's suites come as counts
    page.goto(live["url"] + "/runs")
    page.locator("#runs tbody tr", has_not_text="__xss").first.locator("td:nth-child(2) a").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    suite = page.locator("details.suite").first
    tests = int(re.match(r"(\d+) tests?", suite.locator(".counts").inner_text()).group(1))
    assert suite.locator("table").count() == 0
    suite.locator("summary").click()
    rows = suite.locator("tbody tr")
    rows.first.wait_for()
    assert rows.count() == tests and suite.get_attribute("data-state") == "loaded"
    assert rows.first.locator("a").get_attribute("href").startswith("/tests/")
    suite.locator("summary").click()
    suite.locator("summary").click()  # closed and opened again: no second fetch
    assert rows.count() == tests and len([u for u in fetched if "/suite/cases?" in u]) == 1
    run_url = page.url
    page.goto(live["url"] + f"/runs/{live['xss_run']}")
    for summary in page.locator("details.suite > summary").all():
        summary.click()
    page.locator("details.suite[data-state=loaded]").nth(len(PAYLOADS) - 1).wait_for()
    assert page.evaluate("window.__xss") is None
    assert page.locator("details.suite img[src=x], details.suite svg[onload]").count() == 0
    assert page.errors == [] and page.dialogs == []

    context = chromium.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(run_url)
    first = plain.locator("details.suite").first
    first.locator("summary").click()
    first.get_by_role("link", name=re.compile("on their own page")).click()
    plain.wait_for_url(re.compile(r"/runs/\d+/suite\?name="))
    assert plain.locator("tbody tr").count() == tests
    context.close()
