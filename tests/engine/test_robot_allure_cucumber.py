"""Robot Framework, Allure 1/2 and Cucumber JSON parsers: goldens, producers, edge cases, fuzz."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testdash_engine.formats import ReportReader, allure2, summarize
from testdash_engine.model import (
    CaseResult,
    Limits,
    ParseContext,
    ParsedFile,
    ParseError,
    source_zone,
)

from tests.engine.goldens import KINDS, read, record, write

GOLDEN = pathlib.Path(__file__).parent / "golden"
FOLDERS = ("robot", "allure", "cucumber")
REPORTS = sorted(
    p
    for folder in FOLDERS
    for p in (GOLDEN / folder).iterdir()
    if p.suffix in (".xml", ".json") and not p.name.endswith(".expected.json")
)


def rejection(path):
    with pytest.raises(ParseError) as caught:
        list(ReportReader(path))
    assert summarize(path).rejection == caught.value.rejection
    return caught.value.rejection


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_file_gives_expected_records(path):
    expected = json.loads(
        path.with_name(path.name.rsplit(".", 1)[0] + ".expected.json").read_text()
    )
    reader = ReportReader(path)
    if "rejection" in expected:
        with pytest.raises(ParseError) as caught:
            list(reader)
        assert caught.value.rejection.kind == expected["rejection"]["kind"]
        assert caught.value.rejection.reason == expected["rejection"]["reason"]
        return
    records = [record(r) for r in reader]
    assert [reader.detection.format, reader.detection.dialect] == expected["detection"]
    assert records == expected["records"]


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_golden_files_parse_the_same_at_any_chunk_size(chunk_size):
    ctx = ParseContext(limits=Limits(chunk_size=chunk_size))
    for path in REPORTS:
        if "container" not in path.name:
            assert read(path, ctx) == read(path), path.name


# --- Robot Framework -------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["robot7", "legacy"])
def test_robot_written_output_parses_like_robot_counts_it(tmp_path, legacy):
    shutil.copytree(GOLDEN / "robot" / "Checkout", tmp_path / "Checkout")
    out = tmp_path / "output.xml"
    args = [
        sys.executable,
        "-m",
        "robot",
        "--output",
        str(out),
        "--report",
        "NONE",
        "--log",
        "NONE",
    ]
    args += ["--legacyoutput"] if legacy else []
    subprocess.run([*args, "Checkout"], cwd=tmp_path, capture_output=True, timeout=120, check=False)
    summary = summarize(out)
    assert summary.accepted
    # Robot's console: "10 tests, 2 passed, 5 failed, 3 skipped" (the teardown fails two).
    assert summary.counts == {"passed": 2, "failed": 5, "error": 0, "skipped": 3}
    results = {r.name: r for r in read(out)}
    assert results["Print Receipt"].message == "Parent suite teardown failed:\nprinter jammed"
    assert results["Card Payment"].identity == (
        "Checkout / Payment",
        "Checkout.Payment",
        "Card Payment",
    )
    # Robot writes local times with no zone: read in the default zone, marked assumed.
    assert all(
        source_zone(r.started_at).assumed_zone == "UTC" and r.duration is not None
        for r in results.values()
    )


ROBOT_OLD = """<robot generator="Robot 3.1.2"><suite name="Top"><suite name="Sub">
<test name="t"><kw name="Fail" library="BuiltIn" type="kw">
<msg timestamp="20240101 12:00:00.100" level="FAIL">boom</msg>
<status status="FAIL" starttime="20240101 12:00:00.000" endtime="20240101 12:00:01.500"/></kw>
<status status="FAIL" starttime="20240101 12:00:00.000" endtime="20240101 12:00:01.500">boom</status>
</test>
<test name="n"><status status="NOT RUN" starttime="N/A" endtime="N/A"/></test>
<test name="w"><status status="WEIRD" start="2024-01-01T12:00:00.123456" elapsed="x"/></test>
<status status="FAIL"/></suite><status status="FAIL"/></suite>
<statistics><suite><stat name="Top">Top</stat></suite></statistics>
<errors><msg level="ERROR">ignored</msg></errors></robot>"""


def test_robot_old_times_are_local_and_statuses_mapped(tmp_path):
    path = write(tmp_path, ROBOT_OLD)
    ctx = ParseContext(default_tz=timezone(timedelta(hours=2)))
    items = list(ReportReader(path, ctx))
    t, n, w = (i for i in items if isinstance(i, CaseResult))
    assert t.started_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert (t.duration, t.status, t.message) == (1.5, "failed", "boom")
    assert t.trace == "BuiltIn.Fail: boom"
    assert (t.suite, t.classname) == ("Top / Sub", "Top.Sub")
    assert (n.status, n.started_at, n.duration) == ("skipped", None, None)
    assert w.status == "skipped" and w.duration is None
    assert w.started_at == datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert any("WEIRD" in i.message for i in items if not isinstance(i, CaseResult))


def test_robot_keyword_trace_is_capped(tmp_path):
    inner = "".join(f'<kw name="k{i}"><status status="PASS"/></kw>' for i in range(500))
    body = f'<kw name="outer">{inner}<kw name="bad"><status status="FAIL">{"x" * 500}</status></kw>'
    body += '<status status="FAIL">m</status></kw>'
    path = write(tmp_path, f'<robot><suite name="s"><test name="t">{body}'
                           '<status status="FAIL">m</status></test></suite></robot>')  # fmt: skip
    [result] = read(path, ParseContext(limits=Limits(trace=60, message=100)))
    assert result.trace.startswith("outer")
    assert "truncated by testdash" in result.trace
    assert result.truncated > 0


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('<?xml version="1.0"?>\n<robot><!DOCTYPE x></robot>', "malformed"),
        ('<robot><suite name="a">' + "<kw>" * 300, "hostile"),
        ('<robot><suite name="a"><test name="t">', "malformed"),
        ("<robot>\x00</robot>", "hostile"),
    ],
)
def test_robot_bad_files_are_rejected_with_a_kind(tmp_path, text, kind):
    assert rejection(write(tmp_path, text)).kind == kind


def test_robot_doctype_is_refused_as_hostile(tmp_path):
    text = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><robot>&x;</robot>'
    assert rejection(write(tmp_path, text)).kind == "hostile"


# --- Allure ----------------------------------------------------------------------------------


def test_allure_pytest_written_results_parse(tmp_path):
    shutil.copy(GOLDEN / "allure" / "source" / "checkout_sample.py", tmp_path / "test_checkout.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--alluredir", "out"]
    for extra in ([], ["-k", "flaky_retry"]):  # the second run passes the retried test
        subprocess.run([*base, *extra, "test_checkout.py"], cwd=tmp_path, capture_output=True,
                       timeout=120, check=False)  # fmt: skip
    statuses = {}
    for path in sorted((tmp_path / "out").glob("*-result.json")):
        [result] = read(path)
        statuses.setdefault(result.name, []).append(result.status)
    assert sorted(statuses.pop("Retried until it passes")) == ["failed", "passed"]
    assert statuses == {
        "test_add_item": ["passed"], "test_remove_item": ["failed"], "test_payment": ["error"],
        "test_broken_in_body": ["error"], "test_pay_later": ["skipped"],
        "test_known_bug": ["skipped"], "test_param[apple]": ["passed"],
        "test_param[k\\xe4se]": ["passed"],
    }  # fmt: skip
    for path in (tmp_path / "out").glob("*-container.json"):
        assert summarize(path).rejection.kind == "not-a-report"


@pytest.mark.parametrize(
    ("body", "status", "flaky", "issue"),
    [
        ('{"name": "t", "status": "passed", "statusDetails": {"flaky": true}}', "passed", True, 0),
        ('{"uuid": "u", "name": "t", "start": 1, "stop": 2}', "skipped", False, 1),
        ('{"uuid": "u", "name": "t", "status": "unknown"}', "skipped", False, 0),
        ('{"uuid": "u", "name": "t", "status": "Broken"}', "error", False, 0),
        ('{"uuid": "u", "name": "t", "status": "oops"}', "skipped", False, 1),
    ],
)
def test_allure2_status_and_flaky(tmp_path, body, status, flaky, issue):
    summary = summarize(write(tmp_path, body))
    assert summary.accepted
    [result] = read(tmp_path / "report")
    assert (result.status, result.flaky) == (status, flaky)
    assert len(summary.issues) == issue


def test_allure2_identity_from_labels_and_times_in_ms(tmp_path):
    labels = [{"name": k, "value": v} for k, v in
              [("parentSuite", "P"), ("suite", "S"), ("subSuite", "U"), ("testClass", "a.B")]]  # fmt: skip
    body = {"uuid": "u", "historyId": "h", "fullName": "a.B.t", "status": "failed",
            "statusDetails": {"message": "m", "trace": "tr"}, "start": 1704110400000,
            "stop": 1704110401500, "labels": labels, "steps": [{"name": "x"}]}  # fmt: skip
    [result] = read(write(tmp_path, json.dumps(body)))
    assert result.identity == ("P / S / U", "a.B", "a.B.t")
    assert (result.message, result.trace, result.duration) == ("m", "tr", 1.5)
    assert result.started_at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'{"uuid": "u", "status": "passed", "name": "t"', "malformed"),
        (b'{"uuid": "u", "status": "passed", "name": "\xff"}', "malformed"),
        (b'{"uuid": "u", "status": "passed", "name": "t"} {}', "malformed"),
        (b'{"uuid": "u", "status": "passed", "name": 5}', "malformed"),
        (b'{"uuid": "u", "status": "passed", "x": ' + b"[" * 400 + b"]" * 400 + b"}", "hostile"),
        (b'{"uuid": "u", "status": "passed", "name": "t", "befores": []}', "not-a-report"),
        (b'{"uuid": "u", "status": "passed", "name": NaN}', "malformed"),
        (b'{"uuid": "u", "status": "passed"' + b" " * 70000 + b'\x00"name": "t"}', "hostile"),
    ],
)
def test_allure2_bad_json_is_rejected_with_a_kind(tmp_path, data, kind):
    assert rejection(write(tmp_path, data)).kind == kind


def test_allure2_result_over_the_cap_is_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(allure2, "MAX_BYTES", 100)
    path = write(tmp_path, '{"uuid": "u", "status": "passed", "name": "' + "n" * 200 + '"}')
    assert rejection(path).kind == "too-large"


def test_allure2_bom_is_accepted(tmp_path):
    [result] = read(write(tmp_path, b'\xef\xbb\xbf{"uuid": "u", "status": "passed", "name": "t"}'))
    assert result.name == "t"


def test_allure1_xml_suite_name_after_cases_and_step_names_ignored(tmp_path):
    text = (
        '<ns2:test-suite xmlns:ns2="urn:model.allure.qatools.yandex.ru"><test-cases>'
        '<test-case status="failed" start="1000" stop="3000"><name>t</name><steps><step>'
        "<name>step</name></step></steps><failure><message>m</message></failure></test-case>"
        "</test-cases><name>Suite</name></ns2:test-suite>"
    )
    [result] = read(write(tmp_path, text))
    assert (result.suite, result.name, result.status, result.message) == (
        "Suite",
        "t",
        "failed",
        "m",
    )
    assert result.duration == 2.0


# --- Cucumber --------------------------------------------------------------------------------


def scenario(name, *statuses, kind="scenario", **extra):
    steps = [{"keyword": "Given ", "name": f"s{i}", "result": {"status": s, "duration": 10**9}}
             for i, s in enumerate(statuses)]  # fmt: skip
    return {"type": kind, "name": name, "keyword": "Scenario", "steps": steps, **extra}


@pytest.mark.parametrize(
    ("statuses", "status"),
    [
        ((), "passed"), (("passed", "passed"), "passed"), (("passed", "failed", "skipped"), "failed"),
        (("undefined", "skipped"), "error"), (("ambiguous",), "error"), (("pending",), "skipped"),
        (("skipped",), "skipped"), (("passed", "weird"), "skipped"), (("pending", "failed"), "failed"),
    ],
)  # fmt: skip
def test_cucumber_scenario_status_from_steps(tmp_path, statuses, status):
    feature = {"name": "F", "uri": "f.feature", "elements": [scenario("S", *statuses)]}
    [result] = read(write(tmp_path, json.dumps([feature])))
    assert result.status == status
    assert result.duration == (len(statuses) or None)


def test_cucumber_background_counts_for_following_scenarios_only(tmp_path):
    elements = [scenario("bg", "failed", kind="background"), scenario("A", "skipped"),
                scenario("B", "passed"), scenario("bg", "passed", kind="background"),
                scenario("C", "passed")]  # fmt: skip
    # cucumber-jvm writes the feature's name and uri after its elements.
    feature = {"elements": elements, "name": "F", "uri": "f.feature"}
    results = read(write(tmp_path, json.dumps([feature])))
    assert [(r.identity, r.status) for r in results] == [
        (("F", "f.feature", "A"), "failed"), (("F", "f.feature", "B"), "failed"),
        (("F", "f.feature", "C"), "passed"),
    ]  # fmt: skip


def test_cucumber_hook_failure_fails_the_scenario(tmp_path):
    hook = {"result": {"status": "failed", "error_message": "E: bad\n at x"}, "match": {}}
    feature = {"name": "F", "elements": [scenario("S", "passed", before=[hook])]}
    [result] = read(write(tmp_path, json.dumps([feature])))
    assert (result.status, result.message, result.trace) == ("failed", "E: bad", "E: bad\n at x")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'{"elements": []}', "malformed"),
        (b'[{"id": ["a"], "elements": []}]', "malformed"),
        (b'[{"name": "F", "elements": {}}]', "malformed"),
        (b'[{"name": "F", "elements": [{"steps": [1]}]}]', "malformed"),
        (b'[{"name": "F", "elements": [' + b"[" * 300, "hostile"),
        (b'[{"name": "F", "elements": []}', "malformed"),
    ],
)
def test_cucumber_bad_json_is_rejected_with_a_kind(tmp_path, data, kind):
    assert rejection(write(tmp_path, data)).kind == kind


def test_cucumber_many_features_stream(tmp_path):
    features = [{"name": f"F{i}", "elements": [scenario("S", "passed")]} for i in range(2000)]
    summary = summarize(
        write(tmp_path, json.dumps(features)), ParseContext(limits=Limits(chunk_size=512))
    )
    assert summary.counts["passed"] == 2000


# --- Never crash -----------------------------------------------------------------------------

GOLDEN_BYTES = [p.read_bytes() for p in REPORTS]
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CONTEXTS = st.sampled_from([7, 64, 65536]).map(lambda n: ParseContext(limits=Limits(chunk_size=n)))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input"


def never_raises(path, data, ctx):
    path.write_bytes(data)
    summary = summarize(path, ctx)
    assert isinstance(summary, ParsedFile)
    if summary.rejection is not None:
        assert summary.rejection.kind in KINDS
        assert not summary.rejection.reason.startswith("parser failed")
    else:
        assert summary.attempts >= summary.tests


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
                st.sampled_from([b"{", b"}", b"[", b"]", b",", b'"', b":", b"null", b"1e999",
                                 b"<", b">", b"&", b"\x00", b"\xc3", b"<!DOCTYPE x>", b"\\u0000",
                                 b'"steps": 5,', b'"status": 7,', b'"elements": {},'])
                | st.binary(max_size=16)
            )  # fmt: skip
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)


@FUZZ
@given(data=mutated(), ctx=CONTEXTS)
def test_fuzz_mutated_goldens_never_raise(scratch, data, ctx):
    never_raises(scratch, data, ctx)


@FUZZ
@given(data=st.binary(max_size=2048), ctx=CONTEXTS, prefix=st.sampled_from(
    [b"", b"[", b'[{"elements": [', b'{"uuid": "u", "status": "passed", ', b'{"testCases": [',
     b"<robot>", b'<ns2:test-suite xmlns:ns2="urn:model.allure.qatools.yandex.ru">']))  # fmt: skip
def test_fuzz_arbitrary_bytes_after_a_format_head_never_raise(scratch, data, ctx, prefix):
    never_raises(scratch, prefix + data, ctx)
