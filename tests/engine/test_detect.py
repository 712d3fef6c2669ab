"""detect(): what a file is, from its first bytes only."""

from __future__ import annotations

import codecs

import pytest
from testdash_engine.detect import detect
from testdash_engine.model import Detection, Rejection

SUITE = b'<testsuite name="s" tests="1"><testcase name="t"/></testsuite>'


def test_detect_junit_bare_testsuite_root():
    assert detect(SUITE) == Detection("junit", None)


def test_detect_junit_testsuites_root_after_declaration_comment_and_pi():
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- licence\n text -->\n'
        b'<?xml-stylesheet href="x.xsl"?>\n<testsuites name="pytest"><testsuite/></testsuites>'
    )
    assert detect(head) == Detection("junit", "pytest")


def test_detect_eclipse_testrun_root():
    assert detect(b'<testrun name="x"><testsuite/></testrun>') == Detection("junit", "eclipse")


def test_detect_utf8_bom_is_skipped():
    assert detect(codecs.BOM_UTF8 + SUITE).format == "junit"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_detect_utf16_with_bom_is_accepted(encoding):
    bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
    assert detect(bom + SUITE.decode().encode(encoding)).format == "junit"


def test_detect_utf16_with_declaration_and_no_bom_is_accepted():
    text = '<?xml version="1.0" encoding="UTF-16"?>' + SUITE.decode()
    assert detect(text.encode("utf-16-le")).format == "junit"


def test_detect_utf16_without_bom_or_declaration_is_rejected():
    found = detect(SUITE.decode().encode("utf-16-le"))
    assert isinstance(found, Rejection)
    assert found.kind == "not-a-report"
    assert "UTF-16" in found.reason


@pytest.mark.parametrize(
    ("needle", "dialect"),
    [
        (b'<testsuites name="jest tests">', "jest"),
        (b'<testsuites name="Mocha Tests">', "mocha"),
        (b'<testsuite><properties><property name="go.version" value="1"/>', "go"),
        (b'<testsuite xsi:noNamespaceSchemaLocation="maven-surefire-plugin/x.xsd">', "surefire"),
        (b'<testsuite><testcase name="a" status="run"/>', "googletest-or-ctest"),
        (b'<testsuite name="A" file="/x/ATest.php">', "phpunit"),
    ],
)
def test_detect_junit_dialect_hints(needle, dialect):
    assert detect(needle + b"</testsuite>") == Detection("junit", dialect)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'<?xml version="1.0"?><test-run id="2">', Detection("nunit", "nunit3")),
        (b'<test-suite type="Assembly" name="a.dll">', Detection("nunit", "nunit3")),
        (b"<test-results total='1'>", Detection("nunit", "nunit2")),
        (b'<assemblies timestamp="x">', Detection("xunit", "v2")),
        (b'<assembly name="x.dll">', Detection("xunit", "v1")),
        (
            b'<TestRun id="1" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">',
            Detection("trx"),
        ),
        (b'<robot generator="Robot 6">', Detection("robot")),
        (
            b'<ns2:test-suite xmlns:ns2="urn:model.allure.qatools.yandex.ru" start="1">',
            Detection("allure1"),
        ),
        (b'{"results": {"tool": {"name": "jest"}}, "reportFormat": "CTRF"}', Detection("ctrf")),
        (b'{"Time":"2024-01-01T00:00:00Z","Action":"run","Test":"TestA"}\n', Detection("gotest")),
        (b'{"protocolVersion":"0.1.1","runnerVersion":"1.25.2","type":"start"}', Detection("dart")),
        (b'{"numTotalTests": 3, "testResults": []}', Detection("jest")),
        (b'{"stats": {"suites": 1}, "tests": [], "pending": [], "passes": []}', Detection("mocha")),
        (
            b'{"created": 1.0, "exitcode": 0, "collectors": [], "tests": []}',
            Detection("pytest-json"),
        ),
        (b'[{"keyword": "Feature", "uri": "a.feature", "elements": []}]', Detection("cucumber")),
        (b'{"uuid": "1", "historyId": "h", "status": "passed"}', Detection("allure2")),
        (b'{"name": "s", "testCases": [{"name": "t"}]}', Detection("allure1", "json")),
        (b"TAP version 13\n1..2\nok 1 - a\nnot ok 2 - b\n", Detection("tap")),
        (b"1..2\nok 1\n", Detection("tap")),
    ],
)
def test_detect_other_report_formats_by_content(head, expected):
    assert detect(head) == expected


def test_detect_allure_container_is_not_a_result():
    found = detect(b'{"uuid": "c", "children": ["a", "b"], "befores": []}')
    assert isinstance(found, Rejection)
    assert found.kind == "not-a-report"
    assert "container" in found.reason


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (b'<?xml version="1.0"?><coverage line-rate="0.9">', "Cobertura"),
        (b'<report name="jacoco">', "JaCoCo"),
        (b"<failsafe-summary result='0'>", "Failsafe summary"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (b"<html><body>hi</body></html>", "HTML"),
        (b"[INFO] BUILD SUCCESS\n[INFO] Total time: 3 s\n", "plain text"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary"),
        (b"<catalog><book/></catalog>", "<catalog>"),
    ],
)
def test_detect_non_reports_are_rejected_with_a_reason(head, words):
    found = detect(head)
    assert isinstance(found, Rejection)
    assert found.kind == "not-a-report"
    assert words in found.reason


@pytest.mark.parametrize("head", [b"", b"   \n\t\n"])
def test_detect_empty_file(head):
    assert detect(head) == Rejection("empty", "the file is empty")


def test_detect_doctype_is_hostile():
    head = b'<?xml version="1.0"?>\n<!DOCTYPE testsuite SYSTEM "http://evil/x.dtd">\n<testsuite/>'
    found = detect(head)
    assert isinstance(found, Rejection)
    assert found.kind == "hostile"
    assert "DTD" in found.reason
    assert found.line == 2


def test_detect_nul_bytes_inside_xml_are_hostile():
    found = detect(b'<testsuite name="a\x00b"/>')
    assert isinstance(found, Rejection)
    assert found.kind == "hostile"


def test_detect_ignores_the_file_name_and_reads_only_content():
    # The same bytes give the same answer whatever the file is called: detect takes no name.
    assert detect.__code__.co_varnames[: detect.__code__.co_argcount] == ("head",)
