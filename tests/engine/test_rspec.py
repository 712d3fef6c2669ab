"""The RSpec JSON parser: golden files, identity, zero examples, hostile input, fuzz."""

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testdash_engine.detect import detect
from testdash_engine.formats import ReportReader, parser_for, summarize
from testdash_engine.formats.rspec import OUTSIDE_ROW
from testdash_engine.model import Detection, Limits, ParseContext, ParseError

from tests.engine.goldens import KINDS, record, write
from tests.engine.goldens import read as rows

GOLDEN = pathlib.Path(__file__).parent / "golden" / "rspec"
FILES = sorted(p for p in GOLDEN.glob("*.json") if not p.name.endswith(".expected.json"))


def example(description="works", group="Thing", **extra):
    return {
        "id": "./spec/thing_spec.rb[1:1]", "description": description,
        "full_description": f"{group} {description}" if group else description,
        "status": "passed", "file_path": "./spec/thing_spec.rb", "line_number": 3,
        "run_time": 0.5, "pending_message": None, **extra,
    }  # fmt: skip


def report(examples, **summary):
    counts = {"duration": 1.0, "example_count": len(examples), "failure_count": 0,
              "pending_count": 0, "errors_outside_of_examples_count": 0, **summary}  # fmt: skip
    return json.dumps({"version": "3.13.0", "examples": examples, "summary": counts,
                       "summary_line": f"{len(examples)} examples"})  # fmt: skip


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_rspec_golden_file_gives_expected_records(path):
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    reader = ReportReader(path)
    records = [record(r) for r in reader]
    assert [reader.detection.format, reader.detection.dialect] == expected["detection"]
    assert records == expected["records"]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_rspec_goldens_parse_the_same_at_any_chunk_size(chunk_size):
    ctx = ParseContext(limits=Limits(chunk_size=chunk_size))
    for path in FILES:
        assert rows(path, ctx) == rows(path), path.name


def test_rspec_golden_counts_and_profile_examples_not_repeated():
    summary = summarize(GOLDEN / "rspec_groups.json")
    assert summary.counts == {"passed": 5, "failed": 3, "error": 0, "skipped": 3}
    assert summary.tests == 11  # summary.example_count: profile.examples are not rows again


def test_rspec_identity_is_file_group_chain_and_description(tmp_path):
    data = report([
        example("is zero", "Cart#total when empty"),
        example("#size counts", "Cart"),  # RSpec joins "#", "." and "::" without a space
        example("stands alone", ""),
        example("odd", "X", full_description="does not end with the description"),
    ])  # fmt: skip
    got = [r.identity for r in rows(write(tmp_path, data))]
    assert got == [
        ("./spec/thing_spec.rb", "Cart#total when empty", "is zero"),
        ("./spec/thing_spec.rb", "Cart", "#size counts"),
        ("./spec/thing_spec.rb", "", "stands alone"),
        ("./spec/thing_spec.rb", "", "odd"),
    ]


def test_rspec_identity_ignores_id_line_and_run_time(tmp_path):
    first = rows(write(tmp_path, report([example()]), "a.json"))
    moved = example(id="./spec/thing_spec.rb[1:7]", line_number=90, run_time=3.0)
    second = rows(write(tmp_path, report([moved]), "b.json"))
    assert first[0].identity == second[0].identity


def test_rspec_statuses_messages_and_types(tmp_path):
    error = {"class": "RuntimeError", "message": "\nboom\n", "backtrace": ["a.rb:1", "b.rb:2"]}
    data = report([
        example("p"),
        example("f", status="failed", exception=error),
        example("s", status="pending", pending_message="later"),
        example("u", status="weird"),
        example("n", status="failed", exception={"class": "E", "message": None, "backtrace": None}),
    ])  # fmt: skip
    got = {
        r.name: (r.status, r.message, r.type, r.trace, r.duration)
        for r in rows(write(tmp_path, data))
    }
    assert got == {
        "p": ("passed", None, None, None, 0.5),
        "f": ("failed", "boom", "RuntimeError", "a.rb:1\nb.rb:2", 0.5),
        "s": ("skipped", "later", None, None, 0.5),
        "u": ("error", None, None, None, 0.5),
        "n": ("failed", None, "E", None, 0.5),
    }


def test_rspec_zero_examples_accepted_only_when_the_summary_says_so(tmp_path):
    ok = summarize(write(tmp_path, report([]), "zero.json"))
    assert ok.accepted and ok.format == "rspec" and ok.tests == 0
    lying = summarize(write(tmp_path, report([], example_count=4), "lying.json"))
    assert lying.rejection.kind == "malformed"
    no_summary = summarize(write(tmp_path, '{"version": "3.13.0", "examples": []}', "bare.json"))
    assert not no_summary.accepted


def test_rspec_errors_outside_examples_without_messages_give_one_error_row(tmp_path):
    [row] = rows(write(tmp_path, report([], errors_outside_of_examples_count=3)))
    assert (row.name, row.status, row.message) == (
        OUTSIDE_ROW, "error", "3 error(s) occurred outside of examples"
    )  # fmt: skip


def test_rspec_detected_by_its_keys_not_its_name():
    assert detect(b'{"version":"3.13.0","examples":[{"id":"x"}') == Detection("rspec")
    assert detect(b'{"version":"3.9.0","summary_line":"0 examples"}') == Detection("rspec")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b'{"version": "3.13.0", "examples": [', "malformed"),
        (b'{"version": "3.13.0", "examples": [{"description": "\xff"}]}', "malformed"),
        (b'{"version": "3.13.0", "examples": [{"description": "a\x00b"}]}', "hostile"),
        (b'{"version": "3.13.0", "examples": ' + b"[" * 400 + b"]" * 400 + b"}", "hostile"),
        (b'{"version": "3.13.0", "examples": []} {}', "malformed"),
        (b'{"version": "3.13.0", "examples": {}}', "malformed"),
        (b'{"version": "3.13.0", "summary": {"example_count": 0}}', "malformed"),
    ],
)
def test_rspec_bad_documents_are_rejected_with_a_kind(data, kind):
    with pytest.raises(ParseError) as info:
        list(parser_for("rspec")(iter([data]), Detection("rspec"), ParseContext()))
    assert info.value.rejection.kind == kind


def test_rspec_long_text_is_capped_and_counted(tmp_path):
    error = {"class": "E", "message": "m" * 20000, "backtrace": ["t" * 100] * 1000}
    [row] = rows(
        write(tmp_path, report([example("n" * 3000, "", status="failed", exception=error)]))
    )
    limits = Limits()
    assert row.truncated == (3000 - limits.name) + (20000 - limits.message) + (
        1000 * 101 - 1 - limits.trace
    )
    assert "truncated by testdash" in row.message


GOLDEN_BYTES = [p.read_bytes() for p in FILES]


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
                                 b"\x00", b"\xc3", b"\\u0000", b'"examples": 5,',
                                 b'"exception": [],', b'"status": {},', b'"backtrace": "x",',
                                 b'"summary": [],', b'"messages": {},', b"-1", b"true"])
                | st.binary(max_size=16)
            )  # fmt: skip
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "rspec.json"


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated(), chunk=st.sampled_from([7, 64, 65536]))
def test_rspec_mutated_goldens_never_raise(scratch, data, chunk):
    scratch.write_bytes(data)
    summary = summarize(scratch, ParseContext(limits=Limits(chunk_size=chunk)))
    if summary.rejection is not None:
        assert summary.rejection.kind in KINDS
        assert not summary.rejection.reason.startswith("parser failed"), summary.rejection
    else:
        assert summary.attempts >= summary.tests
