"""The run picker in real Chromium with JavaScript off: choose two runs, see what changed."""

import re

import pytest

from tests.web.test_browser import CHROMIUM, chromium, live  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="no Chromium"),
]


@pytest.fixture
def plain_page(chromium):  # noqa: F811
    """A page with JavaScript disabled: the picker is plain forms and links."""
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(5000)
    yield page
    context.close()


def test_pick_two_runs_of_a_group_and_see_the_comparison(live, plain_page):  # noqa: F811
    page = plain_page
    page.goto(live["url"] + "/compare")
    page.select_option("#pick-group select[name=server]", "qa-lab")
    page.get_by_role("button", name="Show runs").click()
    page.wait_for_url(re.compile(r"server=qa-lab"))
    rows = page.locator("#pick tbody tr")
    assert rows.count() >= 3 and set(rows.locator("td:nth-child(4)").all_inner_texts()) == {
        "qa-lab"
    }
    head_id = rows.nth(0).get_attribute("id").removeprefix("pick-")
    base_id = rows.nth(2).get_attribute("id").removeprefix("pick-")
    page.get_by_label(f"base: run #{base_id}").check()
    page.get_by_label(f"head: run #{head_id}").check()
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(rf"/runs/{base_id}/compare/{head_id}$"))
    assert page.locator("#compare-counts a").count() == 7
    assert page.locator("h3#new_failures").is_visible() and page.locator("h3#muted").is_visible()
    shared = page.url
    page.goto(shared)  # the address alone shows the same comparison
    assert page.locator("#change-runs input[name=base]").input_value() == base_id

    page.fill("#change-runs input[name=head]", "999999")
    page.locator("#change-runs").get_by_role("button", name="Compare").click()
    assert page.get_by_role("alert").inner_text() == "There is no run #999999."
    page.fill("#base-id", base_id)
    page.fill("#head-id", head_id)
    page.locator("#pick-runs").get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(rf"/runs/{base_id}/compare/{head_id}$"))
