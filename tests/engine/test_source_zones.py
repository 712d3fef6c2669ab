"""Times stored in UTC keep what the report said of their zone (docs/formats.md, "Timestamps")."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from testdash_engine.cli import main
from testdash_engine.formats.junit_values import parse_timestamp
from testdash_engine.model import STATED_UTC, ParseContext, SourceZone, source_zone, zoned
from testdash_engine.rows import FileCounts
from testdash_models.models import File, Run

from tests.engine.goldens import GOLDEN, read, write

BERLIN = ParseContext(default_tz=ZoneInfo("Europe/Berlin"))
NO_ZONE = SourceZone()
NAIVE_BERLIN = SourceZone(None, "Europe/Berlin")


def junit(stamp, name="n"):
    return (
        f'<testsuite name="s" timestamp="{stamp}">'
        f'<testcase classname="c" name="{name}" time="2"/></testsuite>'
    )


def ctrf(start_ms, stop_ms):
    return json.dumps(
        {
            "reportFormat": "CTRF",
            "results": {
                "tool": {"name": "playwright"},
                "summary": {"tests": 1, "passed": 1, "failed": 0, "skipped": 0, "pending": 0},
                "tests": [
                    {
                        "name": "t",
                        "status": "passed",
                        "duration": stop_ms - start_ms,
                        "start": start_ms,
                        "stop": stop_ms,
                    }
                ],
            },
        }
    )


@pytest.mark.parametrize(
    ("stamp", "utc", "zone"),
    [
        ("2024-05-01T10:00:00+02:00", datetime(2024, 5, 1, 8, tzinfo=UTC), SourceZone(120)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC), SourceZone(0)),
        ("2024-05-01T10:00:00+00:00", datetime(2024, 5, 1, 10, tzinfo=UTC), SourceZone(0)),
        ("2024-05-01T10:00:00-05:30", datetime(2024, 5, 1, 15, 30, tzinfo=UTC), SourceZone(-330)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 8, tzinfo=UTC), NAIVE_BERLIN),
        ("2024-01-01 10:00:00", datetime(2024, 1, 1, 9, tzinfo=UTC), NAIVE_BERLIN),
    ],
    ids=["plus-two", "z", "plus-zero", "minus-five-thirty", "naive-summer", "naive-winter"],
)
def test_junit_timestamp_keeps_the_zone_the_report_gave(tmp_path, stamp, utc, zone):
    [case] = read(write(tmp_path, junit(stamp)), BERLIN)
    assert case.started_at == utc
    assert source_zone(case.started_at) == zone


@pytest.mark.parametrize(
    ("golden", "zones"),
    [
        ("junit/ant.xml", {NAIVE_BERLIN}),
        # jest-junit and mocha-junit-reporter cut the "Z" off UTC times.
        ("junit/jest_junit.xml", {SourceZone(None, "UTC")}),
        ("junit/mocha_junit.xml", {SourceZone(None, "UTC")}),
        ("junit/surefire_flaky_rerun.xml", {SourceZone(60)}),
        ("trx/mstest_vs2012.trx", {SourceZone(-180)}),
        # Naive on purpose in the golden file: one result's startTime has no offset.
        ("trx/vstest_mstest.trx", {SourceZone(60), NAIVE_BERLIN}),
        ("nunit/nunit3_console.xml", {SourceZone(0)}),
        ("nunit/nunit2_results.xml", {NAIVE_BERLIN}),
        ("xunit/xunit_v2_console.xml", {NAIVE_BERLIN}),
        ("xunit/xunit_v3.xml", {SourceZone(0)}),
        ("robot/robot7_output.xml", {NAIVE_BERLIN}),
        ("robot/robot6_legacy_output.xml", {NAIVE_BERLIN}),
        ("gotest/gotestsum_rerun.json", {SourceZone(120)}),
        ("mocha/mocha_hooks.json", {SourceZone(0)}),
        ("cucumber/cucumber_jvm.json", {SourceZone(0)}),
        ("ctrf/ctrf_retries.json", {NO_ZONE}),
        ("jest/jest_retries.json", {NO_ZONE}),
        ("allure/pytest_passed-result.json", {NO_ZONE}),
        ("allure/allure1_junit_adaptor-testsuite.xml", {NO_ZONE}),
        ("pytest-json/pytest_json_report.json", {NO_ZONE}),
    ],
)
def test_each_format_says_what_its_producer_wrote_of_the_zone(golden, zones):
    results = read(GOLDEN / golden, BERLIN)
    assert {source_zone(r.started_at) for r in results if r.started_at} == zones


def test_robot7_start_with_an_offset_keeps_it(tmp_path):
    path = write(
        tmp_path,
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<robot generator="Robot 7.0" schemaversion="5"><suite id="s1" name="S">'
        '<test id="s1-t1" name="T"><status status="PASS" start="2024-05-01T10:00:00.5+02:00"'
        ' elapsed="1.5"/></test><status status="PASS" start="2024-05-01T10:00:00+02:00"'
        ' elapsed="1.6"/></suite></robot>',
        "output.xml",
    )
    [case] = read(path, BERLIN)
    assert case.started_at == datetime(2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC)
    assert source_zone(case.started_at) == SourceZone(120)


def test_a_naive_time_in_a_dst_gap_or_fold_still_gets_one_offset():
    new_york = ZoneInfo("America/New_York")
    gap = parse_timestamp("2024-03-10T02:30:00", new_york)  # clocks jump 02:00 → 03:00
    fold = parse_timestamp("2024-11-03T01:30:00", new_york)  # 01:00-02:00 happens twice
    assert source_zone(gap) == source_zone(fold) == SourceZone(None, "America/New_York")
    assert gap.astimezone(UTC) == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
    assert fold.astimezone(UTC) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)


def test_plain_utc_means_no_zone_and_stated_utc_is_kept_apart():
    epoch = datetime.fromtimestamp(1_700_000_000, UTC)
    assert source_zone(epoch) == NO_ZONE
    assert source_zone(None) == NO_ZONE
    stated = zoned(datetime(2024, 5, 1, 10, tzinfo=UTC), UTC)
    assert stated.tzinfo is STATED_UTC and source_zone(stated) == SourceZone(0)
    assert source_zone(zoned(datetime(2024, 5, 1, 10), UTC)) == SourceZone(None, "UTC")


def test_file_counts_keep_the_zones_through_sums_and_the_parse_workers_pickle():
    counts, other = FileCounts(), FileCounts()
    began = parse_timestamp("2024-05-01T10:00:00+02:00", UTC)
    counts.started_at, counts.finished_at = began, began + timedelta(seconds=5)
    other.started_at = parse_timestamp("2024-05-01T07:00:00", ZoneInfo("Europe/Dublin"))
    other.finished_at = datetime(2024, 5, 1, 9, tzinfo=UTC)  # epoch time: no zone
    counts.merge(other)
    assert counts.zones() == (None, "Europe/Dublin", None, None)
    assert pickle.loads(pickle.dumps(counts)).zones() == counts.zones()
    alone = FileCounts(started_at=began, finished_at=began + timedelta(seconds=5))
    assert pickle.loads(pickle.dumps(alone)).zones() == (120, None, 120, None)


def invoke(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_run_and_file_rows_keep_the_reports_zone(runner, db, tmp_path):
    vol = tmp_path / "vol"
    for run in ("stated", "mixed"):
        (vol / run).mkdir(parents=True)
    (vol / "stated" / "a.xml").write_text(junit("2024-05-01T10:00:00+02:00"))
    # Naive: 10:00 in Dublin (summer, +01:00) is 09:00 UTC; the CTRF file (epoch ms) ends later.
    (vol / "mixed" / "a.xml").write_text(junit("2024-05-01T10:00:00"))
    start = int(datetime(2024, 5, 1, 9, 5, tzinfo=UTC).timestamp() * 1000)
    (vol / "mixed" / "b.json").write_text(ctrf(start, start + 3000))
    args = ("run", "--server", "s", "--root", str(vol), "--timezone", "Europe/Dublin")
    assert invoke(runner, *args).exit_code == 0

    runs = {r.run_dir: r for r in db.session.scalars(select(Run))}
    stated, mixed = runs["stated"], runs["mixed"]
    assert stated.started_at == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert (stated.start_utc_offset, stated.start_assumed_zone) == (120, None)
    assert (stated.end_utc_offset, stated.end_assumed_zone) == (120, None)
    assert stated.source_started_at.isoformat() == "2024-05-01T10:00:00+02:00"
    assert stated.source_finished_at.isoformat() == "2024-05-01T10:00:02+02:00"

    assert mixed.started_at == datetime(2024, 5, 1, 9, tzinfo=UTC)
    assert (mixed.start_utc_offset, mixed.start_assumed_zone) == (None, "Europe/Dublin")
    assert mixed.source_started_at.isoformat() == "2024-05-01T10:00:00+01:00"
    assert mixed.finished_at == datetime(2024, 5, 1, 9, 5, 3, tzinfo=UTC)
    assert (mixed.end_utc_offset, mixed.end_assumed_zone, mixed.source_finished_at) == (
        None,
        None,
        None,
    )
    files = {
        f.file_name: f for f in db.session.scalars(select(File).where(File.run_id == mixed.id))
    }
    assert (files["a.xml"].start_utc_offset, files["a.xml"].start_assumed_zone) == (
        None,
        "Europe/Dublin",
    )
    assert (files["b.json"].start_utc_offset, files["b.json"].start_assumed_zone) == (None, None)

    # A later file with an earlier, stated start takes the start and its zone; the end stays.
    (vol / "stated" / "b.xml").write_text(junit("2024-05-01T07:30:00+01:00", "earlier"))
    assert invoke(runner, *args).exit_code == 0
    db.session.expire_all()
    stated = db.session.get(Run, stated.id)
    assert stated.started_at == datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
    assert (stated.start_utc_offset, stated.end_utc_offset) == (60, 120)
    assert stated.source_started_at.isoformat() == "2024-05-01T07:30:00+01:00"
