"""The flaky, comparison and clusters pages in real Chromium (fixtures of test_browser.py)."""

import re

import pytest

from tests.web.test_browser import CHROMIUM, chromium, live, page  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="no Chromium"),
]


def test_flaky_and_compare_pages_render_and_link_up(live, page):  # noqa: F811
    page.goto(live["url"] + "/flaky")
    assert page.locator("h2").first.inner_text() == "Flaky tests"
    assert page.locator("#flaky tbody tr").count() >= 1
    page.goto(live["url"] + "/runs?server=qa-lab")
    page.locator("#runs tbody tr td:nth-child(2) a").first.click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    since = page.locator("#since-previous a")
    assert re.match(r"\d+ new failures? since #\d+", since.inner_text())
    since.click()
    page.wait_for_url(re.compile(r"/runs/\d+/compare/\d+$"))
    assert page.locator("#compare-counts a").count() == 7  # muted failures too
    assert page.locator("h3#new_failures").is_visible()
    page.goto(live["url"] + "/clusters")
    assert page.locator("#clusters tbody tr").count() >= 1
    assert page.errors == [] and page.dialogs == []
