"""The JUnit parser: golden files, producer output, dialect semantics, caps."""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from testdash_engine.formats import ReportReader, summarize
from testdash_engine.formats.xmlstream import split_cdata
from testdash_engine.model import (
    CaseResult,
    Limits,
    ParseContext,
    ParseError,
    SourceZone,
    source_zone,
)

from tests.engine.goldens import read, record, write

GOLDEN = pathlib.Path(__file__).parent / "golden" / "junit"


@pytest.mark.parametrize("xml", sorted(GOLDEN.glob("*.xml")), ids=lambda p: p.stem)
def test_junit_golden_file_gives_expected_records(xml):
    expected = json.loads(xml.with_suffix(".expected.json").read_text())
    reader = ReportReader(xml)
    records = [record(r) for r in reader]
    assert [reader.detection.format, reader.detection.dialect] == expected["detection"]
    assert records == expected["records"]


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_junit_golden_files_parse_the_same_at_any_chunk_size(chunk_size):
    ctx = ParseContext(limits=Limits(chunk_size=chunk_size))
    for xml in sorted(GOLDEN.glob("*.xml")):
        assert read(xml, ctx) == read(xml), xml.name


PYTEST_MODULE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("boom in setup")

def test_pass():
    print("hello from stdout")

def test_fail():
    assert 1 == 2, "numbers differ"

def test_error(broken):
    pass

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    pass

@pytest.mark.parametrize("value", ["a&b", "<tag>", "ünï"])
def test_param(value):
    assert value
"""


def run_pytest(tmp_path, family):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_sample.py").write_text(PYTEST_MODULE)
    out = tmp_path / f"{family}.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={out}",
         "-o", f"junit_family={family}", "-o", "junit_logging=all", "test_sample.py"],
        cwd=tmp_path, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    return out


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_junit_pytest_written_report_parses(tmp_path, family):
    path = run_pytest(tmp_path, family)
    reader = ReportReader(path)
    results = {r.name: r for r in reader}
    assert reader.detection.format == "junit"
    assert reader.detection.dialect == "pytest"
    assert {n: r.status for n, r in results.items()} == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_error": "error",
        "test_skip": "skipped",
        "test_xfail": "skipped",
        "test_xpass": "passed",
        "test_param[a&b]": "passed",
        "test_param[<tag>]": "passed",
        "test_param[\\xfcn\\xef]": "passed",  # pytest escapes non-ASCII ids
    }
    assert all(r.suite == "pytest" and r.classname == "test_sample" for r in results.values())
    assert all(r.final and r.attempt == 1 and r.duration is not None for r in results.values())
    assert "numbers differ" in results["test_fail"].message
    assert "assert 1 == 2" in results["test_fail"].trace
    assert "boom in setup" in results["test_error"].message
    assert results["test_skip"].message == "not today"
    assert results["test_skip"].type == "pytest.skip"
    assert "hello from stdout" in results["test_pass"].stdout
    stamp = results["test_pass"].started_at
    assert stamp.tzinfo is not None
    assert abs(datetime.now(UTC) - stamp) < timedelta(hours=1)
    summary = summarize(path)
    assert summary.accepted
    assert summary.counts == {"passed": 5, "failed": 1, "error": 1, "skipped": 2}


def test_junit_reader_sets_sha256_size_and_detection(tmp_path):
    path = GOLDEN / "jest_junit.xml"
    reader = ReportReader(path, ParseContext(limits=Limits(chunk_size=100)))
    list(reader)
    data = path.read_bytes()
    assert reader.sha256 == hashlib.sha256(data).hexdigest()
    assert reader.size == len(data)
    assert reader.detection.dialect == "jest"


def test_junit_surefire_flaky_failure_gives_attempts():
    rows = [r for r in read(GOLDEN / "surefire_flaky_rerun.xml") if r.name == "testFlaky"]
    assert [(r.attempt, r.status, r.final, r.flaky) for r in rows] == [
        (1, "failed", False, False),
        (2, "error", False, False),
        (3, "passed", True, True),
    ]
    summary = summarize(GOLDEN / "surefire_flaky_rerun.xml")
    assert summary.flaky == 1
    assert summary.attempts == 7
    assert summary.counts == {"passed": 2, "failed": 0, "error": 1, "skipped": 0}


def test_junit_surefire_rerun_failure_gives_attempts_with_last_final():
    rows = [r for r in read(GOLDEN / "surefire_flaky_rerun.xml") if r.name == "testBroken"]
    assert [(r.attempt, r.status, r.final, r.flaky) for r in rows] == [
        (1, "failed", False, False),
        (2, "failed", False, False),
        (3, "error", True, False),
    ]


def test_junit_status_attribute_variants_mean_skipped(tmp_path):
    path = write(
        tmp_path,
        '<testsuite name="s">'
        '<testcase name="a" status="notrun"/><testcase name="b" status="disabled"/>'
        '<testcase name="c" status="skipped"/><testcase name="d" result="skipped"/>'
        '<testcase name="e" status="run" result="completed"/>'
        '<testcase name="f"><skipped message="why"/></testcase>'
        "</testsuite>",
    )
    assert [(r.name, r.status) for r in read(path)] == [
        ("a", "skipped"), ("b", "skipped"), ("c", "skipped"), ("d", "skipped"),
        ("e", "passed"), ("f", "skipped"),
    ]  # fmt: skip
    assert read(path)[-1].message == "why"


def test_junit_result_elements_outside_testcase_and_empty_suites_yield_nothing(tmp_path):
    path = write(
        tmp_path,
        '<testsuites><testsuite name="declared" tests="5" failures="2"><skipped/>'
        '<failure message="x"/></testsuite></testsuites>',
    )
    summary = summarize(path)
    assert summary.accepted
    assert summary.tests == 0
    assert summary.attempts == 0


def test_junit_missing_classname_is_empty_and_suite_still_set(tmp_path):
    path = write(tmp_path, '<testsuite name="S"><testcase name="t" time="0.1"/></testsuite>')
    [result] = read(path)
    assert (result.suite, result.classname, result.name) == ("S", "", "t")


def test_junit_testcase_directly_under_testsuites_has_empty_suite(tmp_path):
    path = write(tmp_path, '<testsuites><testcase classname="c" name="t"/></testsuites>')
    [result] = read(path)
    assert result.identity == ("", "c", "t")


def test_junit_namespaced_elements_are_understood(tmp_path):
    path = write(
        tmp_path,
        '<j:testsuite xmlns:j="urn:x" name="S"><j:testcase name="t"><j:failure message="m"/>'
        "</j:testcase></j:testsuite>",
    )
    [result] = read(path)
    assert (result.suite, result.status, result.message) == ("S", "failed", "m")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1.5", 1.5), ("1,234.5", 1234.5), ("0,5", 0.5), ("12,345", 12345.0), ("", None),
     ("abc", None), ("-1", None), ("nan", None), ("&lt;&lt;computed&gt;&gt;", None)],
)  # fmt: skip
def test_junit_time_values(tmp_path, value, seconds):
    path = write(tmp_path, f'<testsuite><testcase name="t" time="{value}"/></testsuite>')
    assert read(path)[0].duration == seconds


def test_junit_naive_timestamps_use_default_tz_and_are_marked_assumed(tmp_path):
    path = write(
        tmp_path,
        '<testsuites><testsuite name="a" timestamp="2024-01-01T12:00:00"><testcase name="t"/>'
        '<testcase name="u" timestamp="2024-01-01T12:00:05Z"/></testsuite>'
        '<testsuite name="b" timestamp="not a date"><testcase name="v"/></testsuite></testsuites>',
    )
    ctx = ParseContext(default_tz=timezone(timedelta(hours=2)))
    t, u, v = read(path, ctx)
    assert t.started_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert source_zone(t.started_at) == SourceZone(None, "UTC+02:00")
    assert u.started_at == datetime(2024, 1, 1, 12, 0, 5, tzinfo=UTC)
    assert source_zone(u.started_at) == SourceZone(0)
    assert v.started_at is None


def test_junit_failure_without_message_uses_first_line_of_text(tmp_path):
    path = write(
        tmp_path,
        "<testsuite><testcase name='t'><failure>\n  first line\nsecond</failure></testcase>"
        "</testsuite>",
    )
    [result] = read(path)
    assert result.message == "first line"
    assert result.trace == "\n  first line\nsecond"


def test_junit_long_trace_and_output_are_capped_with_head_tail_and_marker(tmp_path):
    limits = Limits(trace=100, output=50, message=20, name=10, chunk_size=64)
    body = "H" * 60 + "x" * 5000 + "T" * 60
    path = write(
        tmp_path,
        f'<testsuite><testcase name="{"n" * 30}" classname="c">'
        f'<failure message="{"m" * 40}">{body}</failure>'
        f"<system-out><![CDATA[{body}]]></system-out><system-err>{body}</system-err>"
        "</testcase></testsuite>",
    )
    [result] = read(path, ParseContext(limits=limits))
    assert result.trace.startswith("H" * 50 + "\n[... 5020 characters truncated by testdash ...]\n")
    assert result.trace.endswith("T" * 50)
    assert result.stdout.startswith("H" * 25 + "\n[... 5070 characters")
    assert result.stdout.endswith("T" * 25)
    assert result.stderr == result.stdout
    assert result.name.startswith("nnnnn\n[... 20 characters")
    assert result.message.startswith("m" * 10 + "\n[... 20 characters")
    assert result.truncated == 5020 + 5070 + 5070 + 20 + 20


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("<testsuite>\n<testcase name='a'>\n", 3),
        ("<testsuite>\n<testcase name='a'/>\n</testsuite>\n<junk/>", 4),
        ("<testsuite>\n<testcase name='a'>\n</testsuite>", 3),
        ("<testsuite>\n\n<testcase name='a' name='b'/></testsuite>", 3),
    ],
)
def test_junit_malformed_xml_raises_parse_error_with_line(tmp_path, text, line):
    path = write(tmp_path, text)
    with pytest.raises(ParseError) as caught:
        list(ReportReader(path))
    assert caught.value.rejection.kind == "malformed"
    assert caught.value.rejection.line == line
    assert summarize(path).rejection == caught.value.rejection


def test_junit_unreadable_file_is_rejected_with_os_message(tmp_path):
    summary = summarize(tmp_path / "missing.xml")
    assert summary.rejection.kind == "unreadable"
    assert "No such file" in summary.rejection.reason
    directory = summarize(tmp_path)
    assert directory.rejection.kind == "unreadable"


def test_split_cdata_keeps_text_and_cuts_long_sections():
    text = b"<a><![CDATA[" + "\u00e9]".encode() * 50000 + b"]]]></a><!-- <![CDATA[ -->"
    chunks = [text[i : i + 1000] for i in range(0, len(text), 1000)]
    out = list(split_cdata(iter(chunks)))
    joined = b"".join(out)
    assert joined.count(b"]]><![CDATA[") > 50
    from lxml import etree

    assert etree.fromstring(joined).text == etree.fromstring(text).text


def test_case_results_are_immutable():
    case = CaseResult("s", "c", "n", "passed")
    with pytest.raises(AttributeError):
        case.name = "x"


def test_a_year_one_timestamp_in_a_zone_east_of_utc_is_no_start_time():
    from zoneinfo import ZoneInfo

    from testdash_engine.formats.junit_values import parse_timestamp

    assert parse_timestamp("0001-01-01T00:00:00", ZoneInfo("Europe/Berlin")) is None
    assert (
        parse_timestamp("2024-01-01T01:00:00", ZoneInfo("Europe/Berlin")).astimezone(UTC).hour == 0
    )
