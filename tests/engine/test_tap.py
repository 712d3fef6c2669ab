"""The TAP parser: golden files, a real tap.py run, semantics, bounds, never-crash."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from testdash_engine.formats import ReportReader, summarize
from testdash_engine.formats.tap import parse
from testdash_engine.formats.tap_syntax import MAX_LINE
from testdash_engine.model import CaseResult, Detection, Limits, ParseContext, ParseIssue

from tests.engine.goldens import KINDS, record, write

GOLDEN = pathlib.Path(__file__).parent / "golden" / "tap"


def results(text, ctx=None):
    data = text.encode() if isinstance(text, str) else text
    chunks = iter([data[i : i + 7] for i in range(0, len(data), 7)])
    items = list(parse(chunks, Detection("tap"), ctx or ParseContext()))
    return [i for i in items if isinstance(i, CaseResult)], [
        i for i in items if not isinstance(i, CaseResult)
    ]


@pytest.mark.parametrize("tap", sorted(GOLDEN.glob("*.tap")), ids=lambda p: p.stem)
def test_tap_golden_file_gives_expected_records(tap):
    expected = json.loads(tap.with_suffix(".expected.json").read_text())
    reader = ReportReader(tap)
    records = [record(r) for r in reader]
    assert [reader.detection.format, reader.detection.dialect] == expected["detection"]
    assert records == expected["records"]


@pytest.mark.parametrize("chunk_size", [1, 5, 64])
def test_tap_golden_files_parse_the_same_at_any_chunk_size(chunk_size):
    ctx = ParseContext(limits=Limits(chunk_size=chunk_size))
    for tap in sorted(GOLDEN.glob("*.tap")):
        assert list(ReportReader(tap, ctx)) == list(ReportReader(tap)), tap.name


UNITTEST_MODULE = (GOLDEN / "tappy_unittest_module.py.txt").read_text()


def test_tap_written_by_tap_py_now_parses(tmp_path):
    (tmp_path / "test_sample.py").write_text(UNITTEST_MODULE)
    run = subprocess.run([sys.executable, "-m", "tap"], cwd=tmp_path, capture_output=True,
                         check=False, timeout=120)  # fmt: skip
    path = write(tmp_path, run.stdout)
    by_name = {r.name.split(" ")[0] + r.name[r.name.find(")") + 1 :]: r for r in ReportReader(path)}
    assert {n: r.status for n, r in by_name.items()} == {
        "test_error": "failed", "test_fail": "failed", "test_pass": "passed",
        "test_skip": "skipped", "test_sub (i=0)": "passed", "test_sub (i=1)": "failed",
        "test_xfail": "skipped", "test_xpass": "passed",
    }  # fmt: skip
    assert by_name["test_fail"].message == "AssertionError: 1 != 2 : numbers differ"
    assert "Traceback" in by_name["test_error"].trace
    assert (by_name["test_xfail"].type, by_name["test_skip"].message) == ("TODO", "not today")
    assert summarize(path).counts == {"passed": 3, "failed": 3, "error": 0, "skipped": 2}


def test_tap_directives_are_case_insensitive_and_escaped_hash_is_not_one():
    rows, _ = results(
        "1..5\nok 1 - a # skip later\nnot ok 2 - b # ToDo soon\nok 3 - c \\# TODO\n"
        "ok 4 - d#todo url\nok 5 - e # time=1.5s\n"
    )
    assert [(r.name, r.status, r.type, r.message) for r in rows] == [
        ("a", "skipped", "SKIP", "later"),
        ("b", "skipped", "TODO", "soon"),
        ("c # TODO", "passed", None, None),
        ("d#todo url", "passed", None, None),
        ("e", "passed", None, None),
    ]
    assert rows[4].duration == 1.5


def test_tap_missing_description_is_test_number_and_duplicates_get_position():
    rows, _ = results("ok 1\nok\nok 1\n1..3\n")
    assert [r.name for r in rows] == ["test 1", "test 2", "test 1 [#3]"]


def test_tap_subtest_without_heading_is_named_by_its_closing_point():
    rows, issues = results("    ok 1 - inner\n    1..1\nok 1 - outer\n1..1\n")
    assert [(r.suite, r.name) for r in rows] == [("outer", "inner"), ("", "outer")]
    assert issues == []


def test_tap_plan_not_met_and_bail_out_are_issues_and_nothing_is_invented():
    rows, issues = results("1..3\nok 1\nBail out! no db\nok 2\n")
    assert [r.name for r in rows] == ["test 1"]
    assert [i.message for i in issues] == ["Bail out! no db (1 of 3 planned tests ran)"]
    rows, issues = results("1..3\nok 1\n")
    assert "planned 3 tests, 1 ran" in issues[0].message


def test_tap_skip_all_plan_is_an_accepted_run_of_nothing(tmp_path):
    summary = summarize(write(tmp_path, "1..0 # SKIP no network\n"))
    assert summary.accepted and summary.tests == 0
    assert "all tests skipped: SKIP no network" in summary.issues[0].message


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ("TAP version 13\n# nothing ran\n", "empty"),
        ("TAP version 13\nBail out! cannot start\n", "empty"),
        (b"ok 1\n" + b"x" * 70000 + b"\x00\n", "not-a-report"),
    ],
)
def test_tap_without_plan_or_points_or_with_nul_is_rejected(tmp_path, data, kind):
    summary = summarize(write(tmp_path, data))
    assert summary.rejection is not None and summary.rejection.kind == kind


def test_tap_bom_and_invalid_utf8_are_read_with_a_note(tmp_path):
    summary = summarize(write(tmp_path, b"\xef\xbb\xbf1..1\nok 1 - caf\xe9\n"))
    assert summary.accepted and summary.counts["passed"] == 1
    assert any("invalid UTF-8" in i.message for i in summary.issues)


def test_tap_over_long_line_is_cut_in_bounded_memory(tmp_path):
    data = b"1..2\nok 1 - " + b"n" * (3 * MAX_LINE) + b"\n# " + b"c" * (2 * MAX_LINE) + b"\nok 2\n"
    reader = ReportReader(write(tmp_path, data))
    items = list(reader)
    rows = [i for i in items if isinstance(i, CaseResult)]
    assert [r.status for r in rows] == ["passed", "passed"]
    assert len(rows[0].name) < 2 * Limits().name and rows[0].truncated > 0
    assert len(rows[0].stdout) < 2 * Limits().output
    assert any("2 lines longer than" in i.message for i in items if isinstance(i, ParseIssue))


def test_tap_bad_and_huge_yaml_keep_raw_text_and_never_raise():
    rows, issues = results(
        "not ok 1\n  ---\n  a: [1\n  ...\nnot ok 2\n  ---\n  x: &a [*a]\n  ...\n"
    )
    assert rows[0].trace == "a: [1" and "bad YAML" in issues[0].message
    assert rows[1].status == "failed"


def test_tap_nesting_deeper_than_the_limit_is_hostile(tmp_path):
    data = "".join(" " * (4 * d) + "# Subtest: s\n" for d in range(1, 300))
    summary = summarize(write(tmp_path, "TAP version 14\n" + data + "ok 1\n"))
    assert summary.rejection is not None and summary.rejection.kind == "hostile"


FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
GOLDEN_BYTES = [p.read_bytes() for p in sorted(GOLDEN.glob("*.tap"))]
PIECES = [b"ok", b"not ok", b"1..", b" # SKIP", b" # TODO", b"\\#", b"    ", b"  ---\n",
          b"  ...\n", b"{\n", b"}\n", b"# Subtest: ", b"Bail out!", b"\n", b"\x00", b"\xff",
          b": [", b"&a [*a]", b"TAP version 14\n"]  # fmt: skip


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(GOLDEN_BYTES)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "flip"]))
        if op == "insert":
            data[pos:pos] = draw(st.sampled_from(PIECES) | st.binary(max_size=12))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif pos < len(data):
            data[pos] = draw(st.integers(0, 255))
    return bytes(data)


TAPISH = st.lists(st.sampled_from(PIECES) | st.text(max_size=10).map(str.encode), max_size=40)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("tapfuzz") / "input.tap"


def check(path, data, chunk):
    path.write_bytes(data)
    summary = summarize(path, ParseContext(limits=Limits(chunk_size=chunk)))
    if summary.rejection is not None:
        assert summary.rejection.kind in KINDS
        assert "parser failed" not in summary.rejection.reason
    else:
        assert summary.attempts >= summary.tests


@FUZZ
@given(data=mutated(), chunk=st.sampled_from([3, 64, 65536]))
@example(data=b"ok 1 - x {\n    ok\n1..1\n", chunk=3)
def test_fuzz_mutated_tap_gives_a_result_or_a_rejection(scratch, data, chunk):
    check(scratch, data, chunk)


@FUZZ
@given(pieces=TAPISH, chunk=st.sampled_from([3, 64]))
def test_fuzz_tap_like_bytes_give_a_result_or_a_rejection(scratch, pieces, chunk):
    check(scratch, b"TAP version 13\n" + b"".join(pieces), chunk)
