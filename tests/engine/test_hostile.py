"""Hostile and broken files: every one becomes a rejection, none crashes or explodes."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import textwrap

import pytest
from testdash_engine.formats import ReportReader, junit, summarize
from testdash_engine.model import Detection, Limits, ParseContext, ParseError

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite><testcase name="t"><failure>&lol9;</failure></testcase></testsuite>
"""
QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "' + b"a" * 50000 + b'">]>'
    b"<testsuite><testcase name='t'><failure>"
    + b"&a;" * 50000
    + b"</failure></testcase></testsuite>"
)
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="t"><failure message="&xxe;">&xxe;</failure></testcase></testsuite>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite SYSTEM "http://127.0.0.1:9/evil.dtd">
<testsuite><testcase name="t"/></testsuite>
"""
# A comment longer than the detector's head hides the DOCTYPE from it: the parser must refuse it.
HIDDEN = b"<?xml version='1.0'?><!--" + b"x" * 70000 + b"-->"


def rejected(tmp_path, data, ctx=None):
    path = tmp_path / "hostile.xml"
    path.write_bytes(data)
    summary = summarize(path, ctx)
    assert not summary.accepted
    return summary.rejection


def parse_direct(data, ctx=None):
    """Run the JUnit parser without the detector in front of it."""
    ctx = ctx or ParseContext()
    chunks = iter([data[i : i + 4096] for i in range(0, len(data), 4096)])
    return list(junit.parse(chunks, Detection("junit"), ctx))


def run_measured(code):
    """Run code in a fresh interpreter; return (its JSON result, peak RSS in MB).

    The peak is VmHWM of the child's own address space: ru_maxrss after fork+exec
    still carries the parent's high-water mark, which in a long suite is large.
    """
    script = textwrap.dedent(code) + textwrap.dedent("""
        with open("/proc/self/status") as status:
            hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        print(json.dumps([result, hwm / 1024]))
    """)
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + script],
        capture_output=True, text=True, check=True, timeout=600, env=dict(os.environ),
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "data", [LAUGHS, QUADRATIC, XXE, EXTERNAL_DTD], ids=["laughs", "quadratic", "xxe", "dtd"]
)
def test_hostile_dtd_files_are_rejected_by_detection(tmp_path, data):
    rejection = rejected(tmp_path, data)
    assert rejection.kind == "hostile"
    assert "DTD" in rejection.reason


@pytest.mark.parametrize(
    "data", [LAUGHS, QUADRATIC, XXE, EXTERNAL_DTD], ids=["laughs", "quadratic", "xxe", "dtd"]
)
def test_hostile_dtd_refused_by_parser_even_when_detection_misses_it(data):
    hidden = HIDDEN + data.split(b"?>", 1)[1]
    with pytest.raises(ParseError) as caught:
        parse_direct(hidden)
    assert caught.value.rejection.kind == "hostile"


def test_hostile_xxe_content_never_appears(tmp_path):
    undeclared = XXE.replace(b"<!DOCTYPE", b"<!-- ").replace(b"]>", b"-->", 1)
    for data in (XXE, HIDDEN + XXE.split(b"?>", 1)[1], undeclared):
        path = tmp_path / "xxe.xml"
        path.write_bytes(data)
        try:
            rows = list(ReportReader(path))
        except ParseError as exc:
            assert "root:" not in exc.rejection.reason
        else:  # pragma: no cover - must not happen
            assert "root:" not in repr(rows)
            pytest.fail("an external entity was accepted")


def test_hostile_billion_laughs_keeps_memory_flat():
    result, rss = run_measured(f"""
        from testdash_engine.formats import junit
        from testdash_engine.model import Detection, ParseContext, ParseError
        data = {HIDDEN + LAUGHS.split(b"?>", 1)[1]!r}
        try:
            list(junit.parse(iter([data]), Detection("junit"), ParseContext()))
            result = "accepted"
        except ParseError as exc:
            result = exc.rejection.kind
    """)
    assert result == "hostile"
    assert rss < 200


def test_hostile_deep_nesting_is_rejected_without_recursion_error(tmp_path):
    data = b"<testsuites>" + b"<testsuite>" * 100_000 + b"</testsuite>" * 100_000 + b"</testsuites>"
    rejection = rejected(tmp_path, data)
    assert rejection.kind == "hostile"
    assert "deeper" in rejection.reason or "depth" in rejection.reason


def test_hostile_depth_limit_is_ours_not_libxml2s(tmp_path):
    data = b"<testsuite>" + b"<a>" * 20 + b"</a>" * 20 + b"</testsuite>"
    ctx = ParseContext(limits=Limits(max_depth=10))
    assert rejected(tmp_path, data, ctx).kind == "hostile"


def test_hostile_huge_attribute_is_refused_not_buffered(tmp_path):
    path = tmp_path / "attr.xml"
    with path.open("wb") as out:
        out.write(b'<testsuite><testcase name="')
        for _ in range(24):
            out.write(b"a" * (1 << 20))
        out.write(b'"/></testsuite>')
    assert summarize(path).rejection.kind == "too-large"


def test_hostile_long_single_line_text_is_capped(tmp_path):
    # Scaled-down form of the 2 GB single line; the slow test below runs ~200 MB.
    path = tmp_path / "line.xml"
    with path.open("wb") as out:
        out.write(b'<testsuite><testcase name="t"><system-out>')
        for _ in range(20):
            out.write(b"y" * (1 << 20))
        out.write(b"</system-out></testcase></testsuite>")
    [result] = list(ReportReader(path, ParseContext(limits=Limits(output=1000))))
    assert len(result.stdout) < 1100
    assert result.truncated == 20 * (1 << 20) - 1000


def test_hostile_nul_bytes(tmp_path):
    assert rejected(tmp_path, b'<testsuite name="\x00"/>').kind == "hostile"
    late = b"<testsuite>" + b" " * 70000 + b"<testcase name='a\x00b'/></testsuite>"
    assert rejected(tmp_path, late).kind == "malformed"
    assert rejected(tmp_path, b"\x00\x00\x00\x00garbage").kind == "not-a-report"


def test_hostile_invalid_utf8_is_malformed_with_line(tmp_path):
    rejection = rejected(tmp_path, b"<testsuite>\n\n<testcase name='\xff\xfe'/></testsuite>")
    assert rejection.kind == "malformed"
    assert rejection.line == 3


def test_hostile_utf16_with_bom_is_accepted_and_without_is_rejected(tmp_path):
    text = '<testsuite name="s"><testcase name="\u00fc"/></testsuite>'
    for data in (
        codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        ('<?xml version="1.0" encoding="UTF-16"?>' + text).encode("utf-16-le"),
    ):
        path = tmp_path / "u16.xml"
        path.write_bytes(data)
        [result] = list(ReportReader(path))
        assert result.name == "\u00fc"
    assert rejected(tmp_path, text.encode("utf-16-le")).kind == "not-a-report"
    assert rejected(tmp_path, text.encode("utf-16-be")).kind == "not-a-report"


def test_hostile_utf16_declared_but_utf8_content_is_malformed(tmp_path):
    data = b'<?xml version="1.0" encoding="UTF-16"?><testsuite/>'
    assert rejected(tmp_path, data).kind == "malformed"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"<testsuite><testcase name='a'><failure>", "malformed"),
        (os.urandom(0) + bytes(range(256)) * 40, "not-a-report"),
        (b"\x89PNG\r\n\x1a\n" + b"\x01\x02" * 100, "not-a-report"),
        (b"<testsuite>" + b"\xde\xad\xbe\xef" * 50, "malformed"),
    ],
    ids=["empty", "truncated", "bytes", "png", "garbage-after-start"],
)
def test_hostile_broken_files_are_rejected(tmp_path, data, kind):
    assert rejected(tmp_path, data).kind == kind


def _huge_output_script(path, megabytes, cdata):
    return f"""
        from testdash_engine.formats import summarize, ReportReader
        path = {str(path)!r}
        block = b"z" * (1 << 20)
        with open(path, "wb") as out:
            out.write(b'<testsuite name="s"><testcase name="big"><system-out>')
            out.write(b"<![CDATA[" if {cdata} else b"")
            for _ in range({megabytes}):
                out.write(block)
            out.write(b"]]>" if {cdata} else b"")
            out.write(b"</system-out></testcase><testcase name='after'/></testsuite>")
        summary = summarize(path)
        rows = list(ReportReader(path))
        result = [summary.accepted, summary.tests, len(rows[0].stdout), rows[0].truncated]
    """


def test_streaming_cdata_over_libxml2_limit_is_accepted(tmp_path):
    result, rss = run_measured(_huge_output_script(tmp_path / "cdata.xml", 30, True))
    accepted, tests, kept, cut = result
    assert accepted and tests == 2
    assert kept < 70 * 1024
    assert cut == 30 * (1 << 20) - 64 * 1024
    assert rss < 300


@pytest.mark.slow
@pytest.mark.parametrize("cdata", [False, True], ids=["text", "cdata"])
def test_streaming_300mb_system_out_in_bounded_memory(tmp_path, cdata):
    result, rss = run_measured(_huge_output_script(tmp_path / "huge.xml", 300, cdata))
    accepted, tests, kept, cut = result
    assert accepted and tests == 2
    assert kept < 70 * 1024
    assert cut == 300 * (1 << 20) - 64 * 1024
    assert rss < 300
