"""Every page through the test client: content, filters, pagination, exports, escaping."""

import csv
import io
import json
import re

from testdash_models import db

from tests.web.readside import NOW, add_run, add_server, seed_basic

PAYLOAD = '<script>alert("x")</script>'


def test_overview_shows_latest_run_trend_last_day_and_stale_servers(browse):
    seeded = seed_basic()
    page = browse.get("/").get_data(as_text=True)
    assert "build-linux-run2" in page and "qa-lab-run2" in page
    assert page.count('<svg class="chart"') == 2
    assert re.search(r"Last 24 hours: \d+ runs", page)
    stale = page[page.index('id="stale"') : page.index("</div>", page.index('id="stale"'))]
    assert "qa-lab" in stale and "build-linux" not in stale
    assert f'href="/runs/{seeded.runs[-1]}"' in page


def test_runs_filters_sort_and_keyset_pages_are_shareable_urls(browse):
    seed_basic(runs_per_server=4)
    page = browse.get("/runs?server=qa-lab&status=failed&sort=started_at&limit=2").get_data(
        as_text=True
    )
    rows = re.findall(r'href="/runs/\d+">([^<]+)</a>', page)
    assert rows == ["qa-lab-run1", "qa-lab-run2"]
    assert "limit=2" in re.search(r'rel="next" href="([^"]+)"', page).group(1)
    next_link = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "server=qa-lab" in next_link and "status=failed" in next_link and "cursor=" in next_link
    second = browse.get(next_link).get_data(as_text=True)
    assert re.findall(r'href="/runs/\d+">([^<]+)</a>', second) == ["qa-lab-run3"]
    assert 'rel="next"' not in second
    assert "<option selected>qa-lab</option>" in page


def test_runs_date_range_and_tag_filters(browse):
    seed_basic()
    page = browse.get("/runs?run_tag=nightly&since=2000-01-01&until=2999-12-31").get_data(
        as_text=True
    )
    assert "build-linux-run0" in page and "qa-lab" not in re.sub(
        r"<select.*?</select>", "", page, flags=re.S
    )
    assert "No runs match these filters" in browse.get("/runs?until=2000-01-01").get_data(
        as_text=True
    )


def test_runs_bad_filter_is_a_400_naming_it(browse):
    response = browse.get("/runs?status=green")
    assert response.status_code == 400 and b"status must be one of" in response.data
    assert b"Back to the overview" in response.data, "errors keep the site's layout"
    assert browse.get("/runs?since=yesterday").status_code == 400
    assert browse.get("/runs?cursor=not-a-cursor").status_code == 400


def test_runs_export_csv_and_json_stream_every_matching_run(browse):
    seed_basic(runs_per_server=3)
    response = browse.get("/runs.csv?server=build-linux")
    assert response.mimetype == "text/csv" and response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["run_dir"] for r in rows] == [
        "build-linux-run2",
        "build-linux-run1",
        "build-linux-run0",
    ]
    data = json.loads(browse.get("/runs.json?status=failed").get_data(as_text=True))
    assert len(data) == 4 and all(run["status"] == "failed" for run in data)
    assert json.loads(browse.get("/runs.json?server=nobody").get_data(as_text=True)) == []


def test_runs_csv_quotes_text_a_spreadsheet_would_run(browse):
    add_run(add_server("csv"), "=HYPERLINK(1)", NOW, [], run_tag="@SUM(A1)")
    db.session.commit()
    row = next(csv.DictReader(io.StringIO(browse.get("/runs.csv").get_data(as_text=True))))
    assert row["run_dir"] == "'=HYPERLINK(1)" and row["run_tag"] == "'@SUM(A1)"


def test_run_page_shows_failures_first_with_text_then_suites_and_files(browse):
    seeded = seed_basic()
    page = browse.get(f"/runs/{seeded.runs[1]}").get_data(as_text=True)
    failures = page.index('id="failures"')
    assert failures < page.index("boom 2") < page.index('id="suites"') < page.index('id="files"')
    assert "<details><summary>Trace</summary>" in page and "<summary>stdout</summary>" in page
    assert f'href="/tests/{seeded.tests["test_0002"]}"' in page
    assert "TEST-suite.xml" in page and "1.2 KiB" in page
    assert browse.get("/runs/999999").status_code == 404


def test_run_page_shows_retries_as_attempts(browse, dash):
    sid = add_server("retry-box")
    run_id = add_run(
        sid,
        "r1",
        NOW,
        [
            {
                "name": "test_flaky",
                "status": "failed",
                "attempt": 1,
                "final": False,
                "message": "timeout",
            },
            {"name": "test_flaky", "status": "passed", "attempt": 2, "flaky": True},
        ],
    )
    db.session.commit()
    page = browse.get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'id="flaky"' in page and "Attempt 1: failed" in page and "timeout" in page
    assert '<span class="failed">failed</span> → <span class="passed">passed</span>' in page


def test_test_page_shows_strip_chart_messages_and_when_it_started_failing(browse):
    seeded = seed_basic()
    tid = seeded.tests["test_0002"]
    page = browse.get(f"/tests/{tid}").get_data(as_text=True)
    strip = page[page.index('id="status-strip"') :]
    assert strip.count('<a class="') >= 6
    since = page[page.index('id="failing-since"') :]
    assert re.search(
        r"Failing since\s+<a href=\"/runs/\d+\">(build-linux|qa-lab) · \S+-run1</a>", since
    )
    assert '<svg class="chart"' in page and "boom 2" in page
    server_only = browse.get(f"/tests/{tid}?server=qa-lab").get_data(as_text=True)
    history = server_only[server_only.index('id="history"') :]
    assert "qa-lab-run1" in history and "build-linux-run1" not in history
    assert "Passing in the latest run" in browse.get(
        f"/tests/{seeded.tests['test_0000']}"
    ).get_data(as_text=True)
    assert browse.get("/tests/12345").status_code == 404


def test_search_finds_tests_by_substring_and_runs_by_tag(browse):
    seed_basic()
    page = browse.get("/search?q=_0002").get_data(as_text=True)
    assert ">test_0002</a>" in page and ">test_0001</a>" not in page
    assert "Runs tagged" in page
    tagged = browse.get("/search?q=nightly").get_data(as_text=True)
    assert "build-linux-run0" in tagged[tagged.index('id="tagged"') :]
    assert "at least 3 characters" in browse.get("/search?q=te").get_data(as_text=True)
    like = browse.get("/search?q=%25%25%25").get_data(as_text=True)
    assert "No test names contain it" in like


def test_ingest_page_lists_servers_queue_jobs_and_rejected_files(browse, dash):
    from testdash_models.models import File, IngestJob

    seeded = seed_basic()
    db.session.add(
        IngestJob(
            server_id=seeded.servers["qa-lab"], files_seen=7, results_written=70, outcome="partial"
        )
    )
    db.session.add(
        File(
            run_id=seeded.runs[0],
            run_dir="x",
            file_path="",
            file_name="bad.xml",
            full_name="x/bad.xml",
            file_type="xml",
            file_size=10,
            mtime_ns=0,
            status="rejected",
            reason=PAYLOAD,
            reason_line=3,
        )
    )
    db.session.commit()
    page = browse.get("/ingest").get_data(as_text=True)
    assert "qa-lab-next" in page and "pending 1" in page
    assert ">70</td>" in page and "partial" in page
    assert "x/bad.xml" in page and "(line 3)" in page
    assert PAYLOAD not in page and "&lt;script&gt;" in page
    assert "{% block cronjobs %}" not in page


def test_attacker_text_is_escaped_on_every_page(browse, dash):
    sid = add_server(PAYLOAD)
    run_id = add_run(
        sid,
        PAYLOAD,
        NOW,
        [
            {
                "name": PAYLOAD,
                "status": "failed",
                "message": PAYLOAD,
                "type": PAYLOAD,
                "trace": PAYLOAD,
                "stdout": PAYLOAD,
                "stderr": PAYLOAD,
                "classname": PAYLOAD,
                "suite": PAYLOAD,
            },
        ],
        run_tag=PAYLOAD,
        branch=PAYLOAD,
    )
    db.session.commit()
    tid = re.search(
        r'href="/tests/(-?\d+)"', browse.get(f"/runs/{run_id}").get_data(as_text=True)
    ).group(1)
    for url in ["/", "/runs", f"/runs/{run_id}", f"/tests/{tid}", "/search?q=script", "/ingest"]:
        page = browse.get(url).get_data(as_text=True)
        assert "<script>alert" not in page, url
        assert "&lt;script&gt;" in page, url


def test_pages_send_a_csp_without_inline_script_and_serve_their_assets(browse):
    response = browse.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert (
        "unsafe-inline"
        not in response.headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    )
    page = response.get_data(as_text=True)
    assert "<script>" not in page and not re.search(r"<[^>]*\son\w+=", page)
    for asset in ("/static/app.css", "/static/time.js"):
        assert browse.get(asset).status_code == 200
    assert "http://" not in page and "https://" not in page
