"""NUnit 2/3, xUnit.net v1/v2/v3 and TRX parsers: golden files, status mapping, caps, safety."""

from __future__ import annotations

import json
import pathlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testdash_engine.detect import detect
from testdash_engine.formats import ReportReader, nunit, summarize, trx, xunit
from testdash_engine.formats.dotnet import parse_timespan, split_full_name
from testdash_engine.model import (
    CaseResult,
    Detection,
    Limits,
    ParseContext,
    ParsedFile,
    ParseError,
    ParseIssue,
)

from tests.engine.goldens import KINDS, expected_path, read, record, write

GOLDEN = pathlib.Path(__file__).parent / "golden"
GOLDEN_FILES = sorted(
    p
    for d in ("nunit", "xunit", "trx")
    for p in (GOLDEN / d).iterdir()
    if p.suffix in (".xml", ".trx")
)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dotnet_golden_file_gives_expected_records(path):
    expected = json.loads(expected_path(path).read_text())
    reader = ReportReader(path)
    records = [record(r) for r in reader if isinstance(r, CaseResult)]
    assert [reader.detection.format, reader.detection.dialect] == expected["detection"]
    assert records == expected["records"]


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_dotnet_golden_files_parse_the_same_at_any_chunk_size(chunk_size):
    ctx = ParseContext(limits=Limits(chunk_size=chunk_size))
    for path in GOLDEN_FILES:
        assert read(path, ctx) == read(path), path.name


# --- NUnit -------------------------------------------------------------------------------

NUNIT3 = """<?xml version="1.0" encoding="utf-8"?>
<test-run id="2" testcasecount="1" result="Failed" start-time="2024-01-02 03:04:05Z">
<test-suite type="Assembly" name="A.dll" fullname="/x/A.dll">
<test-suite type="TestFixture" name="Fx" fullname="Ns.Fx">
{cases}
</test-suite></test-suite></test-run>"""


@pytest.mark.parametrize(
    ("attrs", "status"),
    [
        ('result="Passed"', "passed"),
        ('result="Failed"', "failed"),
        ('result="Failed" label="Error"', "error"),
        ('result="Failed" label="Cancelled"', "error"),
        ('result="Failed" label="Invalid"', "error"),
        ('result="Skipped" label="Ignored"', "skipped"),
        ('result="Skipped" label="Explicit"', "skipped"),
        ('result="Skipped" label="Invalid"', "skipped"),
        ('result="Inconclusive"', "skipped"),
        ('result="Warning"', "passed"),
        ('executed="True" result="Success" success="True"', "passed"),
        ('executed="True" result="Failure" success="False"', "failed"),
        ('executed="True" result="Error" success="False"', "error"),
        ('executed="False" result="NotRunnable"', "skipped"),
        ('executed="False"', "skipped"),
        ('executed="True" success="False"', "failed"),
        ('executed="True" success="Turue"', "passed"),
    ],
)
def test_nunit_status_mapping(tmp_path, attrs, status):
    path = write(tmp_path, NUNIT3.format(cases=f'<test-case name="T" fullname="Ns.Fx.T" {attrs}/>'))
    [result] = read(path)
    assert result.status == status
    assert (result.suite, result.classname, result.name) == ("A.dll / Fx", "Ns.Fx", "T")


def test_nunit2_failure_child_without_result_attributes_is_a_failure(tmp_path):
    path = write(
        tmp_path,
        '<test-results name="x"><test-suite name="S"><results>'
        '<test-case name="Ns.C.T" executed="True"><failure><message>boom</message>'
        "<stack-trace>at T()</stack-trace></failure></test-case>"
        "</results></test-suite></test-results>",
    )
    [result] = read(path)
    assert (result.status, result.message, result.trace) == ("failed", "boom", "at T()")
    assert (result.classname, result.name) == ("Ns.C", "T")


def test_nunit_suites_with_declared_counts_but_no_cases_invent_nothing(tmp_path):
    path = write(
        tmp_path,
        '<test-run total="5" failed="2"><test-suite type="Assembly" name="A.dll" total="5" '
        'failed="2" result="Failed"><failure><message>child failed</message></failure>'
        "</test-suite></test-run>",
    )
    summary = summarize(path)
    assert summary.accepted
    assert summary.tests == 0


def test_nunit_suite_failure_is_not_attached_to_cases(tmp_path):
    cases = (
        '<test-case name="T" classname="Ns.Fx" result="Passed"/>'
        "<failure><message>OneTimeTearDown: boom</message></failure>"
    )
    [result] = read(write(tmp_path, NUNIT3.format(cases=cases)))
    assert result.status == "passed" and result.message is None


def test_nunit_naive_start_time_uses_default_tz(tmp_path):
    cases = '<test-case name="T" result="Passed" start-time="2024-01-02T03:04:05"/>'
    path = write(tmp_path, NUNIT3.format(cases=cases))
    ctx = ParseContext(default_tz=timezone(timedelta(hours=2)))
    [result] = read(path, ctx)
    assert result.started_at == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)


def test_nunit_never_started_case_takes_the_suite_start_in_any_time_zone(tmp_path):
    cases = '<test-case name="T" result="Failed" start-time="0001-01-01T00:00:00.0000000"/>'
    path = write(tmp_path, NUNIT3.format(cases=cases))
    [result] = read(path, ParseContext(default_tz=timezone(timedelta(hours=2))))
    assert result.started_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- xUnit.net ---------------------------------------------------------------------------


def test_xunit_assembly_errors_become_issues_not_cases(tmp_path):
    path = write(
        tmp_path,
        '<assemblies><assembly name="C:\\b\\T.dll"><errors><error type="assembly-cleanup" '
        'name="T.Fixture"><failure exception-type="X"><message>m</message></failure></error>'
        "</errors></assembly></assemblies>",
    )
    items = list(ReportReader(path))
    assert items == [
        ParseIssue("xUnit.net assembly-cleanup error outside any test not stored: T.Fixture")
    ]


@pytest.mark.parametrize(
    ("result", "status"),
    [("Pass", "passed"), ("Fail", "failed"), ("Skip", "skipped"), ("NotRun", "skipped")],
)
def test_xunit_result_mapping(tmp_path, result, status):
    path = write(
        tmp_path,
        f'<assemblies><assembly name="T.dll"><collection name="C"><test name="N.C.M" type="N.C" '
        f'method="M" result="{result}" time="0.5"/></collection></assembly></assemblies>',
    )
    [case] = read(path)
    assert (case.suite, case.classname, case.name, case.status) == ("T.dll / C", "N.C", "M", status)
    assert case.duration == 0.5


# --- TRX -----------------------------------------------------------------------------------

TRX = """<?xml version="1.0" encoding="utf-8"?>
<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
<Results>{results}</Results>
<TestDefinitions>{definitions}</TestDefinitions>
</TestRun>"""


def trx_result(test_id, name, outcome, extra="", body=""):
    return (
        f'<UnitTestResult executionId="e" testId="{test_id}" testName="{name}" '
        f'outcome="{outcome}" duration="00:00:01.5" {extra}>{body}</UnitTestResult>'
    )


def trx_definition(test_id, classname, code_base="/b/T.dll"):
    return (
        f'<UnitTest name="x" storage="/b/t.dll" id="{test_id}"><TestMethod codeBase="{code_base}" '
        f'className="{classname}" name="x"/></UnitTest>'
    )


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("Passed", "passed"),
        ("PassedButRunAborted", "passed"),
        ("Warning", "passed"),
        ("Failed", "failed"),
        ("Error", "error"),
        ("Timeout", "error"),
        ("Aborted", "error"),
        ("NotExecuted", "skipped"),
        ("NotRunnable", "skipped"),
        ("Inconclusive", "skipped"),
        ("Mystery", "passed"),
    ],
)
def test_trx_outcome_mapping(tmp_path, outcome, status):
    path = write(tmp_path, TRX.format(results=trx_result("1", "T", outcome), definitions=""))
    [result] = read(path)
    assert result.status == status
    assert result.duration == 1.5


def test_trx_unknown_outcome_with_error_info_is_a_failure(tmp_path):
    body = "<Output><ErrorInfo><Message>bad</Message></ErrorInfo></Output>"
    path = write(
        tmp_path, TRX.format(results=trx_result("1", "T", "Odd", body=body), definitions="")
    )
    [result] = read(path)
    assert (result.status, result.message) == ("failed", "bad")


def test_trx_definitions_after_results_give_class_and_assembly(tmp_path):
    path = write(
        tmp_path,
        TRX.format(
            results=trx_result("1", "Ns.Cls.Test(a: 1)", "Passed"),
            definitions=trx_definition("1", "Ns.Cls", "C:\\b\\Ns.Tests.dll"),
        ),
    )
    [result] = read(path)
    assert result.identity == ("Ns.Tests.dll", "Ns.Cls", "Test(a: 1)")


def test_trx_without_definition_takes_class_from_dotted_name(tmp_path):
    path = write(
        tmp_path, TRX.format(results=trx_result("1", "Ns.Cls.Test", "Passed"), definitions="")
    )
    [result] = read(path)
    assert result.identity == ("", "Ns.Cls", "Test")


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["Failed", "Passed"], [(1, "failed", False, False), (2, "passed", True, True)]),
        (["Failed", "Failed"], [(1, "failed", False, False), (2, "failed", True, False)]),
        (
            ["Error", "Failed", "Passed"],
            [(1, "error", False, False), (2, "failed", False, False), (3, "passed", True, True)],
        ),
        (["Passed", "Passed"], [(1, "passed", False, False), (2, "passed", True, False)]),
    ],
)
def test_trx_same_test_run_again_gives_attempts_and_flaky(tmp_path, outcomes, expected):
    results = "".join(trx_result("1", "T", o) for o in outcomes) + trx_result("2", "U", "Passed")
    path = write(tmp_path, TRX.format(results=results, definitions=trx_definition("1", "C")))
    rows = read(path)
    assert [(r.attempt, r.status, r.final, r.flaky) for r in rows if r.name == "T"] == expected
    summary = summarize(path)
    assert summary.tests == 2
    assert summary.attempts == len(outcomes) + 1


def test_trx_same_test_id_with_other_names_are_separate_cases(tmp_path):
    results = trx_result("1", "T(1)", "Passed") + trx_result("1", "T(2)", "Failed")
    path = write(tmp_path, TRX.format(results=results, definitions=""))
    assert [(r.name, r.attempt, r.final) for r in read(path)] == [
        ("T(1)", 1, True),
        ("T(2)", 1, True),
    ]


def test_trx_data_driven_parent_is_replaced_by_its_rows(tmp_path):
    rows = trx_result("1", "T", "Passed", 'dataRowInfo="1"') + trx_result(
        "1", "T", "Failed", 'dataRowInfo="2"'
    )
    parent = trx_result(
        "1", "T", "Failed", 'resultType="DataDrivenTest"', f"<InnerResults>{rows}</InnerResults>"
    )
    path = write(tmp_path, TRX.format(results=parent, definitions=trx_definition("1", "C")))
    assert [(r.name, r.status) for r in read(path)] == [
        ("T (Data Row 1)", "passed"),
        ("T (Data Row 2)", "failed"),
    ]


def test_trx_output_and_error_info_are_read_from_the_result_only(tmp_path):
    body = (
        "<Output><StdOut>out</StdOut><StdErr>err</StdErr><ErrorInfo><Message>msg</Message>"
        "<StackTrace>trace</StackTrace></ErrorInfo><TextMessages><Message>note</Message>"
        "</TextMessages></Output>"
    )
    path = write(
        tmp_path, TRX.format(results=trx_result("1", "T", "Failed", body=body), definitions="")
    )
    [result] = read(path)
    assert (result.stdout, result.stderr, result.message, result.trace) == (
        "out",
        "err",
        "msg",
        "trace",
    )


def test_trx_held_results_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(trx, "MAX_PENDING", 10)
    results = "".join(trx_result(str(i), f"Ns.C.T{i}", "Passed") for i in range(50))
    path = write(tmp_path, TRX.format(results=results, definitions=trx_definition("49", "Real")))
    items = list(ReportReader(path))
    cases = [i for i in items if isinstance(i, CaseResult)]
    assert len(cases) == 50
    assert any(isinstance(i, ParseIssue) and "guessed" in i.message for i in items)
    assert cases[0].classname == "Ns.C"
    assert cases[-1].identity == ("T.dll", "Real", "Ns.C.T49")


def test_trx_empty_run_gives_no_cases(tmp_path):
    path = write(tmp_path, TRX.format(results="", definitions=""))
    summary = summarize(path)
    assert summary.accepted and summary.tests == 0


# --- shared behaviour --------------------------------------------------------------------


def test_dotnet_long_text_and_names_are_capped_with_counted_cuts(tmp_path):
    limits = Limits(message=100, trace=100, output=100, name=50)
    big = "x" * 5000
    path = write(
        tmp_path,
        NUNIT3.format(
            cases=f'<test-case name="{"n" * 80}" classname="C" result="Failed"><failure>'
            f"<message>{big}</message><stack-trace>{big}</stack-trace></failure>"
            f"<output><![CDATA[{big}]]></output></test-case>"
        ),
    )
    [result] = read(path, ParseContext(limits=limits))
    assert result.truncated == 3 * (5000 - 100) + 30
    assert "truncated by testdash" in result.message
    assert len(result.stdout) < 200


@pytest.mark.parametrize(
    ("module", "root"),
    [(nunit, b"<test-run>"), (xunit, b"<assemblies>"), (trx, b"<TestRun>")],
)
def test_dotnet_parsers_refuse_a_dtd_the_detector_did_not_see(module, root):
    data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + root
    with pytest.raises(ParseError) as caught:
        list(module.parse(iter([data]), Detection("x"), ParseContext()))
    assert caught.value.rejection.kind == "hostile"


@pytest.mark.parametrize(
    "root",
    [
        b"<test-run>",
        b"<test-results>",
        b"<assemblies>",
        b"<assembly>",
        b"<TestRun>",
        b"<test-suite>",
    ],
)
def test_dotnet_hostile_inputs_are_rejected_with_the_right_kind(tmp_path, root):
    end = b"</" + root[1:]
    doctype = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    cases = {
        "hostile-dtd": (b"<?xml version='1.0'?>" + doctype + root + b"&e;" + end, "hostile"),
        "deep": (root + b"<a>" * 300 + b"</a>" * 300 + end, "hostile"),
        "nul": (root + b"\x00" + end, "hostile"),
        "late-nul": (root + b" " * 70000 + b"<a b='\x00'/>" + end, "malformed"),
        "undefined-entity": (root + b"&xxe;" + end, "malformed"),
        "truncated": (root + b"<test-case name='a'", "malformed"),
    }
    for name, (data, kind) in cases.items():
        summary = summarize(write(tmp_path, data))
        assert summary.rejection is not None, name
        assert summary.rejection.kind == kind, (name, summary.rejection)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:00:01.5", 1.5),
        ("00:01:00", 60.0),
        ("01:00:00.0000001", 3600.0000001),
        ("1.02:00:00", 93600.0),
        ("", None),
        ("1.5", None),
        ("abc", None),
    ],
)
def test_trx_timespan_values(value, seconds):
    assert parse_timespan(value) == seconds


@pytest.mark.parametrize(
    ("full", "parts"),
    [
        ("Ns.Cls.Method", ("Ns.Cls", "Method")),
        ("Ns.Cls.M(1.5,2.5)", ("Ns.Cls", "M(1.5,2.5)")),
        ('Ns.Cls.M("a.b)")', ("Ns.Cls", 'M("a.b)")')),
        ("Ns.Fixture(42).Test", ("Ns.Fixture(42)", "Test")),
        ("Ns.G<System.Int32>.M", ("Ns.G<System.Int32>", "M")),
        ("Method", ("", "Method")),
    ],
)
def test_split_full_name_ignores_dots_in_arguments(full, parts):
    assert split_full_name(full) == parts


GOLDEN_BYTES = [p.read_bytes() for p in GOLDEN_FILES]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(GOLDEN_BYTES)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b"<", b">", b"&", b"]]>", b"<![CDATA[", b"\x00", b"\xc3",
                                 b"<!DOCTYPE x>", b"<test-case>", b"<InnerResults>",
                                 b"<UnitTestResult testId='x'>", b"</test-suite>", b"<test>"])
                | st.binary(max_size=16)
            )  # fmt: skip
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated(), chunk=st.sampled_from([7, 64, 65536]))
def test_fuzz_mutated_dotnet_golden_files_never_raise(tmp_path, data, chunk):
    path = tmp_path / "input.xml"
    path.write_bytes(data)
    summary = summarize(path, ParseContext(limits=Limits(chunk_size=chunk)))
    assert isinstance(summary, ParsedFile)
    if summary.rejection is not None:
        assert summary.rejection.kind in KINDS
        # ReportReader turns a parser bug into "parser failed: ..." too: that is a failure here.
        assert not summary.rejection.reason.startswith(("parser failed", "parser gave up"))
    else:
        assert summary.attempts >= summary.tests


def test_detect_nunit2_bare_test_suite_root_is_labelled_nunit2():
    head = b'<test-suite type="TestFixture" name="X" executed="True" result="Success">'
    assert detect(head) == Detection("nunit", "nunit2")
    assert detect(b'<test-suite type="Assembly" runstate="Runnable">') == Detection(
        "nunit", "nunit3"
    )
