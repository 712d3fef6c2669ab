"""pytest-json-report output (``pytest --json-report``), streamed one test at a time.

Identity from ``nodeid``: suite = the file part, classname = the classes joined
with ".", name = the function with its parameters. Status: passed, failed,
error, skipped; ``xfailed`` is skipped and ``xpassed`` passed, as pytest's own
JUnit XML has them. Message and trace come from the first stage (setup, call,
teardown) that did not pass: ``crash.message`` and ``longrepr`` (a skip's
reason is taken out of its ``longrepr`` tuple); stdout/stderr join the stages'.
Duration is the sum of the stages. A failed collector (an import error) is an
error row named ``(collection)``. pytest-rerunfailures' ``rerun`` entries are
failed attempts before the test's final entry. ``started_at`` is the session
start (``created`` minus ``duration``): the report has no per-test time.
A file without tests is accepted only when ``summary.total`` is 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from testdash_engine.formats.jsonstream import epoch_s, name, number, text, values
from testdash_engine.model import (
    CaseResult,
    Detection,
    Limits,
    ParseContext,
    ParseError,
    ParseIssue,
    Status,
)

COLLECTION_ROW = "(collection)"
_STATUS: dict[str, Status] = {
    "passed": "passed",
    "failed": "failed",
    "error": "error",
    "skipped": "skipped",
    "xfailed": "skipped",
    "xpassed": "passed",
    "rerun": "failed",
}
_STAGES = ("setup", "call", "teardown")
_SKIP_REPR = re.compile(r"""^\(.*, \d+, (['"])(?:Skipped: )?(.*)\1\)$""", re.DOTALL)
_WANTED = frozenset({"created", "duration", "summary", "collectors.item", "tests.item"})
_MARKS = frozenset({"tests"})
MAX_RERUN_IDS = 100_000


def _split(nodeid: str) -> tuple[str, str, str]:
    parts = nodeid.split("::")
    if len(parts) == 1:
        return nodeid, "", nodeid
    return parts[0], ".".join(parts[1:-1]), parts[-1]


def _row(
    test: dict[str, Any], limits: Limits, started: datetime | None, attempt: int
) -> CaseResult:
    nodeid = test.get("nodeid")
    suite_raw, class_raw, name_raw = _split(nodeid if isinstance(nodeid, str) else "")
    suite, c1 = name(suite_raw, limits.name)
    classname, c2 = name(class_raw, limits.name)
    test_name, c3 = name(name_raw, limits.name)
    status = _STATUS.get(str(test.get("outcome")), "error")
    stages = [test[s] for s in _STAGES if isinstance(test.get(s), dict)]
    duration = sum(number(s.get("duration")) or 0.0 for s in stages) if stages else None
    bad = next((s for s in stages if s.get("outcome") not in ("passed", None)), None)
    message = trace = None
    c4 = c5 = 0
    if bad is not None and status != "passed":
        crash = bad.get("crash")
        longrepr = bad.get("longrepr")
        if isinstance(crash, dict):
            message, c4 = text(crash.get("message"), limits.message)
        skip = _SKIP_REPR.match(longrepr) if isinstance(longrepr, str) else None
        if skip:
            message, c4 = text(skip.group(2), limits.message)
        else:
            trace, c5 = text(longrepr, limits.trace)
    stdout, c6 = text("".join(str(s.get("stdout") or "") for s in stages), limits.output)
    stderr, c7 = text("".join(str(s.get("stderr") or "") for s in stages), limits.output)
    final = test.get("outcome") != "rerun"
    return CaseResult(
        suite, classname, test_name, status, attempt, final,
        final and attempt > 1 and status == "passed", duration, message, None, trace,
        stdout, stderr, c1 + c2 + c3 + c4 + c5 + c6 + c7, started,
    )  # fmt: skip


def _collector(item: dict[str, Any], limits: Limits, started: datetime | None) -> CaseResult:
    suite, c1 = name(item.get("nodeid"), limits.name)
    trace, c2 = text(item.get("longrepr"), limits.trace)
    lines = [line for line in (trace or "").splitlines() if line.startswith("E ")]
    message, c3 = text(lines[0][1:].strip() if lines else "collection failed", limits.message)
    return CaseResult(
        suite, "", COLLECTION_ROW, "error", 1, True, False, None, message, None, trace,
        None, None, c1 + c2 + c3, started,
    )  # fmt: skip


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield pytest case results as the tests array is read; raise ParseError on a bad file."""
    limits = ctx.limits
    created = duration = None
    summary: Any = None
    has_tests = False
    rows = 0
    reruns: dict[str, int] = {}
    for prefix, value in values(chunks, limits, _WANTED, _MARKS):
        if prefix == "created":
            created = epoch_s(value)
        elif prefix == "duration":
            duration = number(value)
        elif prefix == "summary":
            summary = value
        elif prefix == "tests":
            has_tests = True
        elif not isinstance(value, dict):
            yield ParseIssue(f"a {prefix} entry is not an object; ignored")
        else:
            started = created - timedelta(seconds=duration) if created and duration else created
            if prefix == "collectors.item":
                if value.get("outcome") == "failed":
                    rows += 1
                    yield _collector(value, limits, started)
                continue
            nodeid = str(value.get("nodeid"))
            attempt = reruns.pop(nodeid, 0) + 1
            row = _row(value, limits, started, attempt)
            if not row.final and len(reruns) < MAX_RERUN_IDS:
                reruns[nodeid] = attempt
            rows += 1
            yield row
    if not has_tests:
        raise ParseError("pytest JSON report without a tests array", kind="malformed")
    total = (
        summary.get("total", 0 if summary.get("collected") == 0 else None)
        if isinstance(summary, dict)
        else None
    )
    if rows == 0 and total != 0:
        raise ParseError("pytest JSON report with no tests and no summary saying zero ran")
