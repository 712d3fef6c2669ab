"""Hypothesis: the pipeline never raises on any bytes, and JUnit round-trips."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from testdash_engine.formats import ReportReader, summarize
from testdash_engine.model import CaseResult, Limits, ParseContext, ParsedFile
from testdash_engine.textcap import CappedText, cap_str

from tests.engine.goldens import GOLDEN as GOLDEN_DIR
from tests.engine.goldens import KINDS, inputs

GOLDEN = sorted((GOLDEN_DIR / "junit").glob("*.xml"))
GOLDEN_BYTES = [p.read_bytes() for p in GOLDEN]
EVERY_GOLDEN = inputs(*(d.name for d in GOLDEN_DIR.iterdir() if d.is_dir()))
EVERY_GOLDEN_BYTES = [p.read_bytes() for p in EVERY_GOLDEN]
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CONTEXTS = st.sampled_from([7, 64, 65536]).map(lambda n: ParseContext(limits=Limits(chunk_size=n)))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input.xml"


def check(path, data, ctx):
    path.write_bytes(data)
    summary = summarize(path, ctx)
    assert isinstance(summary, ParsedFile)
    assert summary.size == len(data)
    if summary.rejection is not None:
        assert summary.rejection.kind in KINDS
        # summarize turns a parser's own exception into a rejection: that is a bug here.
        assert not summary.rejection.reason.startswith("parser failed"), summary.rejection
    else:
        assert summary.attempts >= summary.tests
    return summary


@FUZZ
@given(data=st.binary(max_size=4096), ctx=CONTEXTS)
@example(data=b"<testsuite><![CDATA[", ctx=ParseContext(limits=Limits(chunk_size=7)))
@example(data=b"\xff\xfe<\x00", ctx=ParseContext())
@example(data=b"[", ctx=ParseContext())
def test_fuzz_arbitrary_bytes_never_raise(scratch, data, ctx):
    check(scratch, data, ctx)


@st.composite
def mutated(draw, sources=GOLDEN_BYTES):
    data = bytearray(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b"<", b">", b"&", b"]]>", b"<![CDATA[", b"<!--", b"\x00",
                                 b"\xc3", b"<!DOCTYPE x>", b"<testcase>", b"</testsuite>"])
                | st.binary(max_size=16)
            )  # fmt: skip
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@FUZZ
@given(data=mutated(), ctx=CONTEXTS)
def test_fuzz_mutated_junit_never_raises(scratch, data, ctx):
    check(scratch, data, ctx)


@FUZZ
@given(data=mutated(EVERY_GOLDEN_BYTES), ctx=CONTEXTS)
def test_fuzz_mutated_goldens_of_every_format_never_crash_a_parser(scratch, data, ctx):
    check(scratch, data, ctx)


XML_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")).filter(
    lambda c: c not in "\ufffe\uffff"
) | st.sampled_from("\t\n\r")
TEXT = st.text(XML_CHARS, max_size=40)
ATTR_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def attr(value):
    return quoteattr(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def text(value):
    return escape(value, {"\r": "&#13;"})


RECORDS = st.lists(
    st.fixed_dictionaries(
        {
            "suite": TEXT,
            "classname": TEXT,
            "name": TEXT,
            "status": st.sampled_from(["passed", "failed", "error", "skipped"]),
            "duration": st.none() | st.integers(0, 10**6).map(lambda n: n / 1000),
            "message": st.none() | TEXT.filter(bool),
            "type": st.none() | TEXT.filter(bool),
            "trace": TEXT,
            "stdout": TEXT,
        }
    ),
    max_size=8,
)


def to_xml(records):
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>']
    for r in records:
        out.append(f"<testsuite name={attr(r['suite'])}><testcase classname={attr(r['classname'])} "
                   f"name={attr(r['name'])}")  # fmt: skip
        if r["duration"] is not None:
            out.append(f' time="{r["duration"]!r}"')
        out.append(">")
        tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(r["status"])
        if tag:
            out.append(f"<{tag}")
            if r["message"] is not None:
                out.append(f" message={attr(r['message'])}")
            if r["type"] is not None:
                out.append(f" type={attr(r['type'])}")
            out.append(f">{text(r['trace'])}</{tag}>")
        out.append(f"<system-out>{text(r['stdout'])}</system-out></testcase></testsuite>")
    out.append("</testsuites>\n")
    return "".join(out).encode()


def expected(r):
    failed = r["status"] != "passed"
    trace = r["trace"] if failed and r["trace"].strip() else None
    message = r["message"] if failed else None
    if failed and message is None and trace is not None:
        message = trace.strip().split("\n", 1)[0]
    return CaseResult(
        suite=r["suite"], classname=r["classname"], name=r["name"], status=r["status"],
        duration=r["duration"], message=message, type=r["type"] if failed else None,
        trace=trace, stdout=r["stdout"] if r["stdout"].strip() else None,
    )  # fmt: skip


@FUZZ
@given(records=RECORDS, ctx=CONTEXTS)
@example(records=[{"suite": "", "classname": "", "name": "a\rb", "status": "failed",
                   "duration": 0.0, "message": None, "type": None, "trace": " \n x\n",
                   "stdout": "]]>"}], ctx=ParseContext())  # fmt: skip
def test_roundtrip_junit_records(scratch, records, ctx):
    scratch.write_bytes(to_xml(records))
    parsed = [r for r in ReportReader(scratch, ctx) if isinstance(r, CaseResult)]
    assert parsed == [expected(r) for r in records]


@FUZZ
@given(pieces=st.lists(st.text(max_size=30), max_size=20), cap=st.integers(0, 60))
def test_capped_text_streamed_equals_capping_the_whole(pieces, cap):
    capped = CappedText(cap)
    for piece in pieces:
        capped.add(piece)
    assert capped.result() == cap_str("".join(pieces), cap)
    assert capped.total == sum(map(len, pieces))
