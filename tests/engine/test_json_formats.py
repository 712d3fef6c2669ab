"""The JSON report parsers: golden files, the real pytest-json-report, hostile input."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testdash_engine.formats import ReportReader, summarize
from testdash_engine.model import CaseResult, Detection, Limits, ParseContext, ParseError

from tests.engine.goldens import read as rows
from tests.engine.goldens import record, write

GOLDEN = pathlib.Path(__file__).parent / "golden"
FORMATS = ("ctrf", "gotest", "jest", "mocha", "pytest-json", "dart")
FILES = sorted(
    p for f in FORMATS for p in (GOLDEN / f).glob("*.json") if not p.name.endswith(".expected.json")
)


def parser(fmt):
    from testdash_engine.formats import parser_for

    return parser_for(fmt)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_json_golden_file_gives_expected_records(path):
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    reader = ReportReader(path)
    records = [record(r) for r in reader if isinstance(r, CaseResult)]
    assert [reader.detection.format, reader.detection.dialect] == expected["detection"]
    assert records == expected["records"]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_json_goldens_parse_the_same_at_any_chunk_size(chunk_size):
    ctx = ParseContext(limits=Limits(chunk_size=chunk_size))
    for path in FILES:
        assert rows(path, ctx) == rows(path), path.name


def test_pytest_json_report_written_by_the_installed_plugin_parses(tmp_path):
    source = GOLDEN / "pytest-json" / "test_sample.py.txt"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_sample.py").write_text(source.read_text())
    out = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--json-report",
         f"--json-report-file={out}", "test_sample.py"],
        cwd=tmp_path, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    summary = summarize(out)
    assert summary.format == "pytest-json"
    assert summary.counts == {"passed": 4, "failed": 1, "error": 1, "skipped": 2}
    by_name = {r.name: r for r in rows(out)}
    assert by_name["test_skip"].message == "not today"
    assert "boom in setup" in by_name["test_error"].message
    assert by_name["test_param[a]"].classname == "TestGroup"
    assert by_name["test_pass"].stdout == "hello from stdout\n"


def test_gotest_rerun_gives_attempts_and_flaky_final():
    got = [(r.name, r.attempt, r.status, r.final, r.flaky) for r in rows(FILES_BY["gotest"])]
    assert ("TestPut/big_value", 1, "failed", False, False) in got
    assert ("TestPut/big_value", 2, "passed", True, True) in got
    assert ("(package)", 1, "error", True, False) in got
    summary = summarize(FILES_BY["gotest"])
    assert summary.flaky == 2
    assert [str(i.message) for i in summary.issues] == [
        "1 line(s) that are not go test events ignored"
    ]


def test_ctrf_retry_attempts_with_and_without_the_final_run():
    got = [(r.name, r.attempt, r.status, r.final, r.flaky) for r in rows(FILES_BY["ctrf"])]
    assert [g for g in got if g[0] == "checks out"] == [
        ("checks out", 1, "failed", False, False),
        ("checks out", 2, "failed", False, False),
        ("checks out", 3, "passed", True, True),
    ]
    assert [g for g in got if g[0] == "shows the total"] == [
        ("shows the total", 1, "failed", False, False),
        ("shows the total", 2, "failed", True, False),
    ]


FILES_BY = {p.parent.name: p for p in FILES}


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b'{"numTotalTests": 1, "testResults": [', "malformed"),
        (b'{"numTotalTests": 1, "testResults": [{"name": "\xff\xfe"}]}', "malformed"),
        # A raw NUL is refused before yajl sees it, as for every JSON document.
        (b'{"numTotalTests": 1, "testResults": [{"name": "a\x00b"}]}', "hostile"),
        (b'{"numTotalTests": 1, "testResults": ' + b"[" * 5000 + b"]" * 5000 + b"}", "hostile"),
        (b'{"numTotalTests": 1, "testResults": []} trailing', "malformed"),
        (b'{"numTotalTests": 3, "testResults": []}', "malformed"),
        (b'{"numTotalTests": 3}', "malformed"),
    ],
)
def test_jest_bad_documents_are_rejected_with_a_kind(data, kind):
    with pytest.raises(ParseError) as info:
        list(parser("jest")(iter([data]), Detection("jest"), ParseContext()))
    assert info.value.rejection.kind == kind


def test_json_zero_tests_accepted_only_when_the_format_says_so(tmp_path):
    ok = write(tmp_path, '{"numTotalTests": 0, "testResults": []}')
    assert summarize(ok).accepted and summarize(ok).tests == 0
    mocha = write(tmp_path, '{"stats": {"tests": 0, "passes": 0}, "tests": [], "passes": []}')
    assert summarize(mocha).accepted
    ctrf = write(tmp_path, '{"reportFormat": "CTRF", "results": {"tests": []}}')
    assert not summarize(ctrf).accepted


def test_json_string_over_the_token_cap_is_too_large():
    from testdash_engine.formats import jsonstream

    huge = (b"x" * (64 * 1024) for _ in range(jsonstream.MAX_TOKEN // (64 * 1024) + 2))
    chunks = iter([b'{"numTotalTests": 1, "testResults": [{"name": "', *huge])
    with pytest.raises(ParseError) as info:
        list(parser("jest")(chunks, Detection("jest"), ParseContext()))
    assert info.value.rejection.kind == "too-large"


@pytest.mark.parametrize("fmt", ["gotest", "dart"])
def test_line_formats_refuse_an_endless_line(fmt):
    from testdash_engine.formats import jsonstream

    endless = (b"y" * (1024 * 1024) for _ in range(jsonstream.MAX_TOKEN // (1024 * 1024) + 2))
    with pytest.raises(ParseError) as info:
        list(parser(fmt)(endless, Detection(fmt), ParseContext()))
    assert info.value.rejection.kind == "too-large"


def test_line_formats_reject_nul_and_invalid_utf8():
    for data in (b'{"Action":"run"}\n\x00\n', b'{"Action":"run"}\n\xff\xfe\n'):
        with pytest.raises(ParseError) as info:
            list(parser("gotest")(iter([data]), Detection("gotest"), ParseContext()))
        assert info.value.rejection.kind == "malformed"


def test_long_text_is_capped_and_counted(tmp_path):
    message = "m" * 20000
    data = json.dumps({
        "results": {"tool": {"name": "t"}, "tests": [
            {"name": "n" * 3000, "status": "failed", "duration": 1, "message": message}
        ]}, "reportFormat": "CTRF",
    })  # fmt: skip
    (row,) = rows(write(tmp_path, data))
    limits = Limits()
    assert row.truncated == (3000 - limits.name) + (20000 - limits.message)
    assert "truncated by testdash" in row.message


GOLDEN_BYTES = [p.read_bytes() for p in FILES]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    index=st.integers(0, len(GOLDEN_BYTES) - 1),
    cut=st.integers(0, 10_000),
    noise=st.binary(max_size=64),
    where=st.integers(0, 10_000),
)
def test_mutated_goldens_give_a_result_or_a_rejection(tmp_path, index, cut, noise, where):
    data = GOLDEN_BYTES[index]
    where %= len(data) + 1
    mutated = data[:where] + noise + data[where + cut % 50 :]
    summary = summarize(write(tmp_path, mutated, "mutated.json"))
    assert summary.accepted or summary.rejection is not None


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=512), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes_through_each_parser_raise_only_parse_error(data, fmt):
    try:
        list(parser(fmt)(iter([data]), Detection(fmt), ParseContext()))
    except ParseError:
        pass
