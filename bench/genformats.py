"""Deterministic report files in every format testdash reads, for the parse benchmark.

Each writer takes (rng, cases, failure rate) and returns the bytes of one file
shaped like its producer's output: mostly passing tests, some failing with a
message and a stack trace, a few skipped, some captured output.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

Writer = Callable[[random.Random, int, float], bytes]
# How many cases one file holds: Allure 2 writes one file per test.
CASES_PER_FILE = {"allure2": 1}


def _cases(rng: random.Random, n: int, rate: float) -> list[tuple[str, str, str, float]]:
    """(class, name, status, seconds) for N cases; status in passed/failed/skipped."""
    out = []
    for i in range(n):
        roll = rng.random()
        status = "failed" if roll < rate else "skipped" if roll < rate + 0.03 else "passed"
        out.append(
            (
                f"com.acme.pkg{i % 7}.Feature{i // 50}Test",
                f"handles_case_{i}",
                status,
                round(rng.expovariate(20), 4),
            )
        )
    return out


def _trace(rng: random.Random, size: int = 1500) -> str:
    lines = [f"AssertionError: expected {rng.randint(0, 99)} but was {rng.randint(0, 99)}"]
    while sum(map(len, lines)) < size:
        method, line = rng.randint(1, 99), rng.randint(1, 900)
        lines.append(f"\tat com.acme.core.Service.call{method}(Service.java:{line})")
    return "\n".join(lines)


def junit(rng: random.Random, n: int, rate: float) -> bytes:
    """Surefire-like JUnit XML."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n']
    for start in range(0, n, 100):
        parts.append(f'  <testsuite name="com.acme.Suite{start}" tests="100" time="1.0">\n')
        for cls, name, status, secs in _cases(rng, min(100, n - start), rate):
            head = f'    <testcase classname="{cls}" name="{name}" time="{secs}"'
            if status == "passed":
                parts.append(head + "/>\n")
            elif status == "skipped":
                parts.append(head + '>\n      <skipped message="disabled"/>\n    </testcase>\n')
            else:
                trace = _trace(rng)
                parts.append(
                    f'{head}>\n      <failure message={quoteattr(trace[:60])} type="java.lang'
                    f'.AssertionError">{escape(trace)}</failure>\n      <system-out>'
                    f"{escape(trace[:500])}</system-out>\n    </testcase>\n"
                )
        parts.append("  </testsuite>\n")
    return ("".join(parts) + "</testsuites>\n").encode()


def nunit(rng: random.Random, n: int, rate: float) -> bytes:
    """NUnit 3 test-run XML."""
    res = {"passed": "Passed", "failed": "Failed", "skipped": "Skipped"}
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?>\n<test-run id="2" testcasecount="{n}">\n'
        '<test-suite type="Assembly" name="Acme.Tests.dll">\n'
    ]
    for i, (cls, name, status, secs) in enumerate(_cases(rng, n, rate)):
        parts.append(
            f'<test-case id="1-{i}" name="{name}" fullname="{cls}.{name}" methodname='
            f'"{name}" classname="{cls}" result="{res[status]}" duration="{secs}">'
        )
        if status == "failed":
            trace = escape(_trace(rng))
            parts.append(
                f"<failure><message>{trace[:80]}</message><stack-trace>{trace}"
                "</stack-trace></failure>"
            )
        elif status == "skipped":
            parts.append("<reason><message>ignored</message></reason>")
        parts.append("</test-case>\n")
    return ("".join(parts) + "</test-suite>\n</test-run>\n").encode()


def xunit(rng: random.Random, n: int, rate: float) -> bytes:
    """xUnit.net v2 XML."""
    res = {"passed": "Pass", "failed": "Fail", "skipped": "Skip"}
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<assemblies>\n<assembly name="Acme.Tests.dll"'
        f' total="{n}">\n<collection name="Acme">\n'
    ]
    for cls, name, status, secs in _cases(rng, n, rate):
        parts.append(
            f'<test name="{cls}.{name}" type="{cls}" method="{name}" time="{secs}" '
            f'result="{res[status]}">'
        )
        if status == "failed":
            trace = escape(_trace(rng))
            parts.append(
                f'<failure exception-type="Xunit.Sdk.EqualException"><message>{trace[:80]}'
                f"</message><stack-trace>{trace}</stack-trace></failure>"
            )
        elif status == "skipped":
            parts.append("<reason>ignored</reason>")
        parts.append("</test>\n")
    return ("".join(parts) + "</collection>\n</assembly>\n</assemblies>\n").encode()


def trx(rng: random.Random, n: int, rate: float) -> bytes:
    """Visual Studio TRX."""
    res = {"passed": "Passed", "failed": "Failed", "skipped": "NotExecuted"}
    results, defs = [], []
    for i, (cls, name, status, secs) in enumerate(_cases(rng, n, rate)):
        tid = f"00000000-0000-0000-0000-{i:012d}"
        results.append(
            f'<UnitTestResult executionId="{tid}" testId="{tid}" testName="{name}" '
            f'duration="00:00:{secs:011.7f}" startTime="2024-01-01T00:00:00.000+00:00" '
            f'outcome="{res[status]}">'
        )
        if status == "failed":
            trace = escape(_trace(rng))
            results.append(
                f"<Output><ErrorInfo><Message>{trace[:80]}</Message><StackTrace>{trace}"
                "</StackTrace></ErrorInfo></Output>"
            )
        results.append("</UnitTestResult>\n")
        defs.append(
            f'<UnitTest name="{name}" id="{tid}"><TestMethod className="{cls}" '
            f'name="{name}"/></UnitTest>\n'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<TestRun id="1" xmlns="http://microsoft.com/'
        'schemas/VisualStudio/TeamTest/2010">\n<Results>\n'
        + "".join(results)
        + "</Results>\n<TestDefinitions>\n"
        + "".join(defs)
        + "</TestDefinitions>\n</TestRun>\n"
    ).encode()


def tap(rng: random.Random, n: int, rate: float) -> bytes:
    """TAP version 13 with YAML diagnostics."""
    lines = ["TAP version 13", f"1..{n}"]
    for i, (_, name, status, secs) in enumerate(_cases(rng, n, rate), start=1):
        if status == "passed":
            lines.append(f"ok {i} - {name}")
        elif status == "skipped":
            lines.append(f"ok {i} - {name} # SKIP disabled")
        else:
            lines += [
                f"not ok {i} - {name}",
                "  ---",
                "  message: values differ",
                f"  duration_ms: {secs * 1000:.1f}",
                "  stack: |",
            ]
            lines += ["    " + line for line in _trace(rng).splitlines()] + ["  ..."]
    return ("\n".join(lines) + "\n").encode()


def robot(rng: random.Random, n: int, rate: float) -> bytes:
    """Robot Framework output.xml (RF 6 shape)."""
    res = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}
    stamp = 'starttime="20240101 12:00:00.000" endtime="20240101 12:00:00.050"'
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<robot generator="Robot 6.1.1" '
        'generated="20240101 12:00:00.000" rpa="false" schemaversion="4">\n'
        '<suite id="s1" name="Acme" source="/acme/tests">\n'
    ]
    for i, (_, name, status, _secs) in enumerate(_cases(rng, n, rate)):
        msg = escape(_trace(rng, 300)) if status == "failed" else ""
        parts.append(
            f'<test id="s1-t{i}" name="{name}" line="{i}"><kw name="Log" library='
            f'"BuiltIn"><status status="PASS" {stamp}/></kw><status status="'
            f'{res[status]}" {stamp}>{msg}</status></test>\n'
        )
    parts.append(f'<status status="FAIL" {stamp}/>\n</suite>\n<statistics/>\n<errors/>\n</robot>\n')
    return "".join(parts).encode()


def allure1(rng: random.Random, n: int, rate: float) -> bytes:
    """Allure 1 XML test suite."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<ns2:test-suite xmlns:ns2="urn:model.allure'
        '.qatools.yandex.ru" start="1704110400000" stop="1704110460000">\n<name>Acme</name>\n'
        "<test-cases>\n"
    ]
    for i, (_, name, status, _secs) in enumerate(_cases(rng, n, rate)):
        t = 1704110400000 + i * 10
        parts.append(f'<test-case start="{t}" stop="{t + 5}" status="{status}"><name>{name}</name>')
        if status == "failed":
            trace = escape(_trace(rng))
            parts.append(
                f"<failure><message>{trace[:80]}</message><stack-trace>{trace}"
                "</stack-trace></failure>"
            )
        parts.append("</test-case>\n")
    return ("".join(parts) + "</test-cases>\n</ns2:test-suite>\n").encode()


def allure2(rng: random.Random, n: int, rate: float) -> bytes:
    """One Allure 2 ``*-result.json`` (one test)."""
    cls, name, status, secs = _cases(rng, 1, rate)[0]
    uuid = f"{rng.getrandbits(128):032x}"
    body: dict[str, object] = {
        "uuid": uuid,
        "historyId": uuid[:16],
        "name": name,
        "fullName": f"{cls}.{name}",
        "status": status,
        "stage": "finished",
        "start": 1704110400000,
        "stop": 1704110400000 + int(secs * 1000),
        "labels": [{"name": "suite", "value": cls}, {"name": "testClass", "value": cls}],
    }
    if status == "failed":
        trace = _trace(rng)
        body["statusDetails"] = {"message": trace[:80], "trace": trace}
    return json.dumps(body).encode()


def ctrf(rng: random.Random, n: int, rate: float) -> bytes:
    """CTRF JSON."""
    tests = []
    for cls, name, status, secs in _cases(rng, n, rate):
        test: dict[str, object] = {
            "name": name,
            "status": status,
            "duration": int(secs * 1000),
            "suite": cls,
        }
        if status == "failed":
            trace = _trace(rng)
            test.update(message=trace[:80], trace=trace)
        tests.append(test)
    summary = {
        "tests": n,
        "passed": 0,
        "failed": 0,
        "skipped": 0,
        "pending": 0,
        "other": 0,
        "start": 1704110400000,
        "stop": 1704110460000,
    }
    return json.dumps(
        {
            "reportFormat": "CTRF",
            "specVersion": "0.0.0",
            "results": {"tool": {"name": "jest"}, "summary": summary, "tests": tests},
        }
    ).encode()


def cucumber(rng: random.Random, n: int, rate: float) -> bytes:
    """Cucumber JSON: one feature per 20 scenarios, three steps each."""
    features = []
    for start in range(0, n, 20):
        elements = []
        for _, name, status, secs in _cases(rng, min(20, n - start), rate):
            steps = []
            for k, word in enumerate(("Given ", "When ", "Then ")):
                result: dict[str, object] = {"status": "passed", "duration": int(secs * 3e8)}
                if k == 2 and status != "passed":
                    result["status"] = status
                    if status == "failed":
                        result["error_message"] = _trace(rng)
                steps.append(
                    {"keyword": word, "name": f"step {k}", "line": k + 3, "result": result}
                )
            elements.append(
                {
                    "id": name,
                    "keyword": "Scenario",
                    "name": name,
                    "type": "scenario",
                    "line": 2,
                    "steps": steps,
                }
            )
        features.append(
            {
                "uri": f"features/f{start}.feature",
                "id": f"f{start}",
                "keyword": "Feature",
                "name": f"Feature {start}",
                "elements": elements,
            }
        )
    return json.dumps(features).encode()


def gotest(rng: random.Random, n: int, rate: float) -> bytes:
    """``go test -json`` event lines."""
    lines = []
    act = {"passed": "pass", "failed": "fail", "skipped": "skip"}
    for _, name, status, secs in _cases(rng, n, rate):
        base = {"Time": "2024-01-01T12:00:00.000000Z", "Package": "github.com/acme/pkg"}
        test = "Test" + name.title().replace("_", "")
        lines.append({**base, "Action": "run", "Test": test})
        lines.append({**base, "Action": "output", "Test": test, "Output": f"=== RUN   {test}\n"})
        if status == "failed":
            lines.append({**base, "Action": "output", "Test": test, "Output": _trace(rng, 300)})
        lines.append({**base, "Action": act[status], "Test": test, "Elapsed": secs})
    lines.append(
        {
            "Time": "2024-01-01T12:00:01Z",
            "Action": "fail",
            "Package": "github.com/acme/pkg",
            "Elapsed": 1.0,
        }
    )
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode()


def jest(rng: random.Random, n: int, rate: float) -> bytes:
    """``jest --json`` output."""
    files = []
    st = {"passed": "passed", "failed": "failed", "skipped": "pending"}
    for start in range(0, n, 25):
        results = [
            {
                "ancestorTitles": [cls],
                "fullName": f"{cls} {name}",
                "title": name,
                "status": st[status],
                "duration": int(secs * 1000),
                "failureMessages": [_trace(rng)] if status == "failed" else [],
            }
            for cls, name, status, secs in _cases(rng, min(25, n - start), rate)
        ]
        files.append(
            {
                "name": f"/acme/src/f{start}.test.js",
                "status": "passed",
                "startTime": 0,
                "endTime": 1,
                "assertionResults": results,
                "message": "",
            }
        )
    return json.dumps(
        {
            "numTotalTests": n,
            "numPassedTests": 0,
            "numFailedTests": 0,
            "success": False,
            "startTime": 1704110400000,
            "testResults": files,
        }
    ).encode()


def mocha(rng: random.Random, n: int, rate: float) -> bytes:
    """mocha ``--reporter json`` output."""
    tests, passes, failures, pending = [], [], [], []
    for cls, name, status, secs in _cases(rng, n, rate):
        test: dict[str, object] = {
            "title": name,
            "fullTitle": f"{cls} {name}",
            "file": "/acme/test/a.spec.js",
            "duration": int(secs * 1000),
            "err": {},
        }
        if status == "failed":
            trace = _trace(rng)
            test["err"] = {"message": trace[:80], "stack": trace}
        tests.append(test)
        {"passed": passes, "failed": failures, "skipped": pending}[status].append(test)
    stats = {
        "suites": 1,
        "tests": n,
        "passes": len(passes),
        "pending": len(pending),
        "failures": len(failures),
        "start": "2024-01-01T12:00:00.000Z",
        "duration": 1000,
    }
    return json.dumps(
        {"stats": stats, "tests": tests, "pending": pending, "failures": failures, "passes": passes}
    ).encode()


def pytest_json(rng: random.Random, n: int, rate: float) -> bytes:
    """pytest-json-report output."""
    tests = []
    for cls, name, status, secs in _cases(rng, n, rate):
        nodeid = f"tests/{cls.rsplit('.', 1)[-1].lower()}.py::{name}"
        call: dict[str, object] = {"duration": secs, "outcome": status}
        if status == "failed":
            call["longrepr"] = _trace(rng)
        phase = {"duration": 0.0001, "outcome": "passed"}
        tests.append(
            {
                "nodeid": nodeid,
                "lineno": 1,
                "outcome": status,
                "keywords": [name],
                "setup": phase,
                "call": call,
                "teardown": phase,
            }
        )
    return json.dumps(
        {
            "created": 1704110400.0,
            "duration": 1.0,
            "exitcode": 1,
            "root": "/acme",
            "environment": {},
            "summary": {"total": n, "collected": n},
            "collectors": [],
            "tests": tests,
        }
    ).encode()


def dart(rng: random.Random, n: int, rate: float) -> bytes:
    """``dart test --reporter json`` event lines."""
    ev: list[dict[str, object]] = [
        {
            "protocolVersion": "0.1.1",
            "runnerVersion": "1.25.0",
            "pid": 1,
            "type": "start",
            "time": 0,
        },
        {
            "suite": {"id": 0, "platform": "vm", "path": "test/acme_test.dart"},
            "type": "suite",
            "time": 1,
        },
        {
            "group": {"id": 1, "suiteID": 0, "parentID": None, "name": "", "testCount": n},
            "type": "group",
            "time": 2,
        },
    ]
    for i, (_, name, status, secs) in enumerate(_cases(rng, n, rate), start=2):
        ev.append(
            {
                "test": {
                    "id": i,
                    "name": name,
                    "suiteID": 0,
                    "groupIDs": [1],
                    "metadata": {"skip": status == "skipped", "skipReason": None},
                },
                "type": "testStart",
                "time": i,
            }
        )
        if status == "failed":
            ev.append(
                {
                    "testID": i,
                    "error": "values differ",
                    "stackTrace": _trace(rng),
                    "isFailure": True,
                    "type": "error",
                    "time": i,
                }
            )
        ev.append(
            {
                "testID": i,
                "result": "failure" if status == "failed" else "success",
                "skipped": status == "skipped",
                "hidden": False,
                "type": "testDone",
                "time": i + int(secs * 1000),
            }
        )
    ev.append({"success": False, "type": "done", "time": n + 10})
    return ("\n".join(json.dumps(e) for e in ev) + "\n").encode()


# Format name (as formats.PARSERS names it) -> (writer, file suffix).
WRITERS: dict[str, tuple[Writer, str]] = {
    "junit": (junit, ".xml"),
    "nunit": (nunit, ".xml"),
    "xunit": (xunit, ".xml"),
    "trx": (trx, ".trx"),
    "tap": (tap, ".tap"),
    "robot": (robot, ".xml"),
    "allure1": (allure1, "-testsuite.xml"),
    "allure2": (allure2, "-result.json"),
    "ctrf": (ctrf, ".json"),
    "cucumber": (cucumber, ".json"),
    "gotest": (gotest, ".json"),
    "jest": (jest, ".json"),
    "mocha": (mocha, ".json"),
    "pytest-json": (pytest_json, ".json"),
    "dart": (dart, ".json"),
}
