"""The run page of a big run: failures a page at a time, suites as counts, cases on demand."""

import html
import re
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from testdash_models import db
from testdash_models.models import Quarantine
from testdash_web.queries import run_page

from tests.web.readside import NOW, add_run, add_server, case_id
from tests.web.test_query_counts import BUDGET, counting

# 600 tests (over INLINE_CASES): suite-a 300 with every 4th failing, suite-b 200 with every
# 5th erroring, suite-c 100 passing but one that passed on retry, and 10 without a suite.
SIZES = {"suite-a": 300, "suite-b": 200, "suite-c": 100, "": 10}


def big_cases():
    out = []
    for suite, size in SIZES.items():
        for i in range(size):
            name = f"{suite or 'bare'}_{i:03d}"
            row = {"name": name, "suite": suite, "status": "passed", "duration": 0.5}
            if suite == "suite-a" and i % 4 == 0:
                row.update(status="failed", message=f"boom {name}", trace=f"trace {name}")
            if suite == "suite-b" and i % 5 == 0:
                row.update(status="error", message=f"broke {name}", type="IOError")
            if suite == "suite-c" and i == 7:
                first = dict(row, status="failed", attempt=1, final=False, message="first try")
                out.append(first)
                row.update(attempt=2, flaky=True)
            out.append(row)
    return out


@pytest.fixture
def big(dash):
    run_id = add_run(add_server("big-box"), "big-run", NOW, big_cases(), branch="main")
    db.session.commit()
    return run_id


def failure_names(page):
    return re.findall(r'<div class="failure [^"]*">\s*<h3><a href="/tests/-?\d+">([^<]+)</a>', page)


def next_link(page):
    found = re.search(r'rel="next" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def test_big_run_page_shows_a_page_of_failures_and_suites_as_counts(browse, big):
    assert run_page.INLINE_CASES < sum(SIZES.values())
    page = browse.get(f"/runs/{big}").get_data(as_text=True)
    failing = [f"suite-a_{i:03d}" for i in range(0, 300, 4)] + [
        f"suite-b_{i:03d}" for i in range(0, 200, 5)
    ]
    assert "Failures (115)" in page
    shown = failure_names(page[: page.index('id="suites"')])
    assert shown[: run_page.FAILURE_PAGE] == failing[: run_page.FAILURE_PAGE]
    assert "boom suite-a_000" in page and f"broke {failing[99]}" in page
    assert f"broke {failing[100]}" not in page
    more = next_link(page)
    assert more.startswith(f"/runs/{big}/failures?") and "section=failures" in more
    assert ">15 more failures »</a>" in page
    assert 'id="flaky"' in page and "Attempt 1: failed" in page and "first try" in page
    suites = page[page.index('id="suites"') : page.index('id="files"')]
    summaries = re.findall(r"<summary>(.*?) <span", suites)
    assert summaries == ["suite-a", "suite-b", "suite-c", "(no suite)"]
    assert '300 tests, <span class="passed">225 passed</span>, <span class="failed">75 failed' in (
        suites
    )
    assert '100 tests, <span class="passed">100 passed</span>, <span class="flaky">1 flaky' in (
        suites
    )
    assert suites.count("data-cases=") == 4 and "<table>" not in suites
    assert "suite-c_050" not in page, "a passing test of a big run is not on its page"
    assert '<script src="/static/suites.js" defer></script>' in page
    assert browse.get("/static/suites.js").status_code == 200


def test_more_failures_pages_continue_in_order_each_failure_once(browse, big):
    seen, url = [], f"/runs/{big}/failures?limit=40"
    for _ in range(5):  # a cursor that does not move on must not loop for ever
        page = browse.get(url).get_data(as_text=True)
        seen += failure_names(page)
        url = next_link(page)
        if url is None:
            break
    assert len(seen) == 115 and len(set(seen)) == 115
    assert seen[0] == "suite-a_000" and seen[-1] == "suite-b_195"
    third = browse.get(f"/runs/{big}/failures?limit=40").get_data(as_text=True)
    third = browse.get(next_link(browse.get(next_link(third)).get_data(as_text=True)))
    assert "Failures 81–115 of 115" in third.get_data(as_text=True)
    flaky = browse.get(f"/runs/{big}/failures?section=flaky").get_data(as_text=True)
    assert failure_names(flaky) == ["suite-c_007"] and "first try" in flaky
    assert browse.get(f"/runs/{big}/failures?section=nope").status_code == 400
    assert browse.get(f"/runs/{big}/failures?cursor=bad").status_code == 400
    assert browse.get("/runs/999999/failures").status_code == 404


def test_muted_failures_and_team_filter_page_apart(browse, big, dash, tmp_path):
    for i in (0, 4, 8):
        db.session.add(
            Quarantine(
                test_case_id=case_id(f"suite-a_{i:03d}", suite="suite-a"),
                reason="known",
                created_by="test",
            )
        )
    db.session.commit()
    page = browse.get(f"/runs/{big}?limit=2").get_data(as_text=True)
    assert "Failures (112)" in page and "Muted failures (3)" in page
    muted = page[page.index('id="muted"') : page.index('id="flaky"')]
    assert failure_names(muted) == ["suite-a_000", "suite-a_004"]
    rest = browse.get(next_link(muted)).get_data(as_text=True)
    assert failure_names(rest) == ["suite-a_008"] and "limit=2" in next_link(muted)
    (tmp_path / "OWNERS").write_text("* @qa\nsuite-b/* @storage\n")
    dash.config["OWNERS_FILE"] = str(tmp_path / "OWNERS")
    mine = browse.get(f"/runs/{big}?team=@storage").get_data(as_text=True)
    assert "Failures (40)" in mine and "Muted failures" not in mine
    assert set(n.split("_")[0] for n in failure_names(mine[: mine.index('id="flaky"')])) == {
        "suite-b"
    }


def test_suite_fragment_loads_a_page_of_its_cases_with_attempts(browse, big):
    page = browse.get(f"/runs/{big}").get_data(as_text=True)
    urls = [html.unescape(u) for u in re.findall(r'data-cases="([^"]+)"', page)]
    fragment = browse.get(urls[2])  # suite-c
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and fragment.mimetype == "text/html"
    assert "<html" not in body and "<header" not in body
    assert re.findall(r'href="/tests/-?\d+">([^<]+)</a>', body) == [
        f"suite-c_{i:03d}" for i in range(100)
    ]
    assert '<span class="failed">failed</span> → <span class="passed">passed</span>' in body
    assert '<span class="badge flaky">flaky</span>' in body
    bare = browse.get(urls[3]).get_data(as_text=True)
    assert "bare_009" in bare and "suite-a_000" not in bare
    first = browse.get(urls[0]).get_data(as_text=True)
    assert first.count("<tr><td>") == 300 and 'rel="next"' not in first
    cut = browse.get(urls[0] + "&limit=250").get_data(as_text=True)
    assert cut.count("<tr><td>") == 250 and ">50 more on the suite's page »</a>" in cut
    assert next_link(cut).startswith(f"/runs/{big}/suite?")


def test_suite_page_lists_every_case_keyset_paged_without_script(browse, big):
    page = browse.get(f"/runs/{big}").get_data(as_text=True)
    link = re.search(r'href="(/runs/\d+/suite\?name=suite-a)">Its 300 tests', page)
    seen, url = [], html.unescape(link.group(1)) + "&limit=70"
    for _ in range(6):
        body = browse.get(url).get_data(as_text=True)
        assert "Suite suite-a" in body and "75 failed" in body
        seen += re.findall(r'href="/tests/-?\d+">([^<]+)</a>', body)
        url = next_link(body)
        if url is None:
            break
    assert seen == [f"suite-a_{i:03d}" for i in range(300)]
    assert "Tests 281–300 of 300" in body


def test_suite_pages_refuse_unknown_runs_suites_and_bad_names(browse, big):
    for path in ("suite", "suite/cases"):
        assert browse.get(f"/runs/{big}/{path}?name=suite-z").status_code == 404
        assert browse.get(f"/runs/999999/{path}?name=suite-a").status_code == 404
        assert browse.get(f"/runs/{big}/{path}").status_code == 400
        assert browse.get(f"/runs/{big}/{path}?name=suite-a&cursor=bad").status_code == 400
        assert browse.get(f"/runs/{big}/{path}?name=suite-a&limit=0").status_code == 400
        assert browse.get(f"/runs/{big}/{path}?name=" + "x" * 5000).status_code == 400


def test_small_run_still_lists_every_case_inline_without_script(browse, dash, monkeypatch):
    run_id = add_run(add_server("small"), "small-run", NOW, big_cases()[:20])
    db.session.commit()
    page = browse.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "data-cases=" not in page and "suites.js" not in page
    assert page.count('<tr><td><a href="/tests/') == 20
    assert '<details class="suite" open>' in page, "a suite with failures starts open"
    monkeypatch.setattr(run_page, "INLINE_ROWS", 19)  # more results than a page lists inline
    page = browse.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "data-cases=" in page and "<tr><td>" not in page
    assert '20 tests, <span class="passed">15 passed</span>, <span class="failed">5 failed' in page


def measure(browse, paths):
    browse.get("/readyz")
    counts = []
    for path in paths:
        with counting(db.engine) as statements:
            assert browse.get(path).status_code == 200, path
        counts.append(len(statements))
    return counts


def paths(run_id, suite):
    return [
        f"/runs/{run_id}",
        f"/runs/{run_id}/failures",
        f"/runs/{run_id}/failures?section=flaky",
        f"/runs/{run_id}/suite?name={suite}",
        f"/runs/{run_id}/suite/cases?name={suite}",
    ]


@pytest.mark.slow
def test_run_pages_issue_a_fixed_number_of_queries_however_big_the_run(browse, big, monkeypatch):
    small = add_run(add_server("tiny"), "tiny-run", NOW, big_cases()[300:310], branch="main")
    db.session.commit()
    monkeypatch.setattr(run_page, "INLINE_CASES", 5)  # both runs' suites come as counts
    few, many = measure(browse, paths(small, "suite-b")), measure(browse, paths(big, "suite-a"))
    assert few == many and max(many) <= BUDGET, (few, many)
    monkeypatch.setattr(run_page, "INLINE_CASES", 500)  # the small one's cases inline: no more
    assert measure(browse, paths(small, "suite-b")) == few


def test_run_page_shows_the_reports_own_time_beside_the_viewers(browse):
    sid = add_server("zones")
    stated = add_run(sid, "stated", NOW, [], start_utc_offset=120)
    naive = add_run(sid, "naive", NOW, [], start_assumed_zone="America/New_York")
    epoch = add_run(sid, "epoch", NOW, [])
    db.session.commit()
    local = NOW.astimezone(timezone(timedelta(hours=2))).strftime("%Y-%m-%d %H:%M")
    page = browse.get(f"/runs/{stated}").get_data(as_text=True)
    assert f"{local} +02:00 in the report" in page
    page = browse.get(f"/runs/{naive}").get_data(as_text=True)
    zoned = NOW.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M %Z")
    assert f"{zoned}, no zone in the report: read as America/New_York" in page
    page = browse.get(f"/runs/{epoch}").get_data(as_text=True)
    assert "in the report" not in page and "source-time" not in page


def test_run_page_links_to_the_picker_with_this_run_as_head(browse):
    run = add_run(add_server("pick"), "one", NOW, [])
    db.session.commit()
    page = browse.get(f"/runs/{run}").get_data(as_text=True)
    link = re.search(r'href="([^"]+)">Compare with another run', page).group(1)
    assert html.unescape(link) == f"/compare?head={run}"
    assert browse.get(link).status_code == 200
