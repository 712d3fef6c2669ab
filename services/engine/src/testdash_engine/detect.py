"""Tell what a file is from its first bytes (never its name).

Decisions:
- UTF-8 with or without BOM is read as is.
- UTF-16 is accepted only when it carries a BOM or starts with an XML
  declaration (``<?xml`` in UTF-16, which libxml2 recognises); any other
  UTF-16-looking content is rejected as not a report, because the parser could
  not be told its encoding reliably.
- A DOCTYPE before the root is refused as hostile (the JUnit parser also refuses
  one it meets later); an HTML DOCTYPE is simply "not a report".
"""

from __future__ import annotations

import codecs
import re

from testdash_engine.model import Detection, Rejection

HEAD_SIZE = 64 * 1024

DTD_REFUSED = "DTDs are not accepted: entity expansion and external entities are refused"

# Roots of other XML test reports: root element -> (format, dialect).
_XML_REPORTS: dict[str, tuple[str, str | None]] = {
    "test-run": ("nunit", "nunit3"),
    "test-results": ("nunit", "nunit2"),
    "assemblies": ("xunit", "v2"),
    "assembly": ("xunit", "v1"),
    "TestRun": ("trx", None),
    "robot": ("robot", None),
}
ALLURE1_NS = "urn:model.allure.qatools.yandex.ru"

# XML we recognise as not being a test report, with the words a user will see.
_NOT_REPORTS: dict[str, str] = {
    "coverage": "a coverage report (Cobertura XML), not a test report",
    "report": "a coverage report (JaCoCo XML), not a test report",
    "failsafe-summary": "a Maven Failsafe summary, not a test report",
    "html": "an HTML page, not a test report",
    "checkstyle": "a Checkstyle report, not a test report",
    "pmd": "a PMD report, not a test report",
}

# An Allure 2 result may lack uuid/historyId (allure2's own fixtures do): a status value
# Allure writes plus a "name" key tells it; fixture lists mark a container.
_ALLURE2_STATUS = re.compile(rb'"status"\s*:\s*"(?i:passed|failed|broken|skipped|unknown)"')
_ALLURE_CONTAINER = re.compile(rb'"(children|befores|afters)"\s*:\s*\[')
_CONTAINER = "an Allure container (fixtures only), not a test result"
# "[]": what cucumber-js and cucumber-jvm write when no feature ran.
_EMPTY_ARRAY = re.compile(rb"\s*\[\s*\]\s*")

# JSON reports by the keys their first bytes hold, checked in order: (keys, format).
# Line-delimited streams (go test -json, Dart) are told by their first object's keys.
_JSON_FORMATS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b'"reportFormat"',), "ctrf"),
    ((b'"results"', b'"tool"'), "ctrf"),
    ((b'"numTotalTests"',), "jest"),
    ((b'"protocolVersion"',), "dart"),
    ((b'"Action"',), "gotest"),
    ((b'"pytest_version"',), "pytest-json"),
    ((b'"exitcode"', b'"collectors"'), "pytest-json"),
    ((b'"stats"', b'"passes"'), "mocha"),
    ((b'"stats"', b'"tests"', b'"pending"'), "mocha"),
    ((b'"elements"',), "cucumber"),
    ((b'"keyword"', b'"uri"'), "cucumber"),
    ((b'"testCases"',), "allure1"),
    ((b'"historyId"',), "allure2"),
    ((b'"uuid"', b'"status"'), "allure2"),
    ((b'"uuid"', b'"name"', b'"stage"'), "allure2"),
    ((b'"uuid"', b'"name"', b'"start"'), "allure2"),
    ((b'"summary_line"',), "rspec"),
    ((b'"examples"', b'"version"'), "rspec"),
)
_JSON_NOT_REPORTS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b'"uuid"', b'"children"'), _CONTAINER),
)

_NAME = re.compile(r"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
# "[INFO] ..." is a log line, "[{...}" or "[]" a JSON array.
_JSON_ARRAY = re.compile(r'\[\s*([\[{"\]\-\d]|true|false|null)')
_TAP = re.compile(rb"^(TAP version \d+|1\.\.\d+|(not )?ok\b)", re.MULTILINE)

# (pattern in the head, dialect) checked in order; cheap substring tests only.
_DIALECTS: tuple[tuple[str, str], ...] = (
    ("maven-surefire-plugin", "surefire"),
    ("maven-failsafe-plugin", "failsafe"),
    ('name="surefire.', "surefire"),
    ('name="pytest"', "pytest"),
    ('name="jest tests"', "jest"),
    ('name="Mocha Tests"', "mocha"),
    ('name="go.version"', "go"),
    ('name="nextest-run"', "nextest"),
    ('status="run"', "googletest-or-ctest"),
    ('.php"', "phpunit"),
    ("gradle", "gradle"),
)


def _decode(head: bytes) -> tuple[str, Rejection | None]:
    """Decode the head for sniffing, honouring a BOM; UTF-16 needs a BOM or declaration."""
    if head.startswith(codecs.BOM_UTF8):
        return head[3:].decode("utf-8", "replace"), None
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(enc, "replace"), None
    if head.startswith(b"<\x00?\x00"):
        return head.decode("utf-16-le", "replace"), None
    if head.startswith(b"\x00<\x00?"):
        return head.decode("utf-16-be", "replace"), None
    if head[:4] in (b"<\x00\x00\x00", b"\x00\x00\x00<") or (
        len(head) >= 4 and head[1:2] == b"\x00" and head[3:4] == b"\x00"
    ):
        reason = "looks like UTF-16 or UTF-32 without a byte-order mark or XML declaration"
        return "", Rejection("not-a-report", reason)
    if b"\x00" in head:
        if head.lstrip()[:1] == b"<":
            return "", Rejection("hostile", "NUL bytes inside XML")
        return "", Rejection("not-a-report", "binary content (NUL bytes), not a test report")
    return head.decode("utf-8", "replace"), None


def _skip_prolog(text: str) -> tuple[int, Rejection | None]:
    """Return the offset of the root start tag, or a rejection for what precedes it."""
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end, close = text.find("?>", pos), 2
        elif text.startswith("<!--", pos):
            end, close = text.find("-->", pos), 3
        elif text.startswith("<!", pos) and text[pos + 2 : pos + 9].upper() == "DOCTYPE":
            if text[pos + 9 : pos + 20].strip().lower().startswith("html"):
                return -1, Rejection("not-a-report", "an HTML page, not a test report")
            return -1, Rejection("hostile", DTD_REFUSED, line=text.count("\n", 0, pos) + 1)
        else:
            return pos, None
        if end < 0:
            return -1, Rejection("not-a-report", "no root element in the first 64 KiB")
        pos = end + close


def _detect_xml(text: str) -> Detection | Rejection:
    pos, problem = _skip_prolog(text)
    if problem is not None:
        return problem
    match = _NAME.match(text, pos)
    if match is None:
        return Rejection("not-a-report", "XML without a root element")
    root = match.group(2)
    if root in ("testsuites", "testsuite", "testrun"):
        return Detection("junit", _junit_dialect(root, text))
    known = _XML_REPORTS.get(root)
    if known is not None:
        return Detection(*known)
    if root == "test-suite":
        # Allure 1 writes a namespaced <ns2:test-suite>; NUnit 3 a bare one (a fragment).
        if ALLURE1_NS in text[pos : pos + 2048]:
            return Detection("allure1", None)
        # NUnit 2 suites carry executed="..." (NUnit 3 ones runstate=): same parser, right label.
        nunit2 = " executed=" in text[pos : pos + 2048].split(">", 1)[0]
        return Detection("nunit", "nunit2" if nunit2 else "nunit3")
    what = _NOT_REPORTS.get(root) or _NOT_REPORTS.get(root.lower())
    if what is not None:
        return Rejection("not-a-report", what)
    return Rejection("not-a-report", f"XML with root <{root}> is not a known test report")


def _junit_dialect(root: str, text: str) -> str | None:
    if root == "testrun":
        return "eclipse"
    for needle, dialect in _DIALECTS:
        if needle in text:
            return dialect
    return None


def _detect_json(head: bytes) -> Detection | Rejection:
    for keys, fmt in _JSON_FORMATS:
        if all(key in head for key in keys):
            if fmt == "allure2" and _ALLURE_CONTAINER.search(head):
                return Rejection("not-a-report", _CONTAINER)
            dialect = "json" if fmt == "allure1" else None
            return Detection(fmt, dialect)
    for keys, what in _JSON_NOT_REPORTS:
        if all(key in head for key in keys):
            return Rejection("not-a-report", what)
    if b'"name"' in head and _ALLURE2_STATUS.search(head) and not _ALLURE_CONTAINER.search(head):
        return Detection("allure2", None)
    if _EMPTY_ARRAY.fullmatch(head.removeprefix(codecs.BOM_UTF8)):
        return Detection("cucumber", None)
    return Rejection("not-a-report", "JSON that is not a known test report")


def detect(head: bytes) -> Detection | Rejection:
    """Say what format the file starting with ``head`` is, or why it is not a report."""
    if not head.strip():
        return Rejection("empty", "the file is empty")
    text, problem = _decode(head[:HEAD_SIZE])
    if problem is not None:
        return problem
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return _detect_xml(text)
    if stripped[:1] == "{" or _JSON_ARRAY.match(stripped):
        return _detect_json(head[:HEAD_SIZE])
    if _TAP.search(head[:HEAD_SIZE]):
        return Detection("tap", None)
    control = sum(1 for ch in stripped[:4096] if ord(ch) < 32 and ch not in "\t\r\n\f")
    if control or "\ufffd" in stripped[:4096]:
        return Rejection("not-a-report", "binary content, not a test report")
    return Rejection("not-a-report", "plain text (a log?), not a test report")
