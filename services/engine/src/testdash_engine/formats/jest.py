"""Jest ``--json`` output, streamed one test file (``testResults`` item) at a time.

A test file's object, with all its ``assertionResults``, is built whole (capped
by jsonstream's item limits). Identity: suite = the test file path (``name``,
as Jest wrote it), classname = ``ancestorTitles`` joined " / ", name = ``title``.
Status: passed; failed; skipped for pending, skipped, todo and disabled;
focused is passed. A test file that failed to run (no assertion results, a
``message`` or ``testExecError``) is one error row named ``(file)``. Message is
the first line of the first ``failureMessages`` entry, trace all of them.
Retries (``jest.retryTimes``): each ``retryReasons`` entry is a failed attempt
before the final one, which is flaky when it passed. Durations are ms.
A file without tests is accepted only when ``numTotalTests`` is 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from testdash_engine.formats.jsonstream import epoch_ms, millis, name, text, values
from testdash_engine.model import (
    CaseResult,
    Detection,
    Limits,
    ParseContext,
    ParseError,
    ParseIssue,
    Status,
)

FILE_ROW = "(file)"
MAX_RETRIES = 1000
_STATUS: dict[str, Status] = {
    "passed": "passed",
    "failed": "failed",
    "pending": "skipped",
    "skipped": "skipped",
    "todo": "skipped",
    "disabled": "skipped",
    "focused": "passed",
}
_WANTED = frozenset({"numTotalTests", "testResults.item"})
_MARKS = frozenset({"testResults"})


def _first_line(value: str | None) -> str | None:
    if not value:
        return None
    for line in value.strip().splitlines():
        if line.strip():
            return line.strip()
    return None


def _case(
    item: dict[str, Any], suite: str, cut: int, limits: Limits, started: datetime | None
) -> Iterator[CaseResult]:
    chain = item.get("ancestorTitles")
    chain = " / ".join(str(t) for t in chain) if isinstance(chain, list) else ""
    classname, c1 = name(chain, limits.name)
    test_name, c2 = name(item.get("title"), limits.name)
    status = _STATUS.get(str(item.get("status")), "error")
    failures = item.get("failureMessages")
    trace, c3 = text(failures if status != "passed" else None, limits.trace)
    message, c4 = text(_first_line(trace), limits.message)
    duration = millis(item.get("duration"))
    reasons = item.get("retryReasons")
    reasons = reasons[:MAX_RETRIES] if isinstance(reasons, list) else []
    for number, reason in enumerate(reasons, 1):
        r_trace, r_cut = text(reason, limits.trace)
        r_message, _ = text(_first_line(r_trace), limits.message)
        yield CaseResult(
            suite, classname, test_name, "failed", number, False, False, None,
            r_message, None, r_trace, None, None, cut + c1 + c2 + r_cut, started,
        )  # fmt: skip
    yield CaseResult(
        suite, classname, test_name, status, len(reasons) + 1, True,
        status == "passed" and bool(reasons), duration, message, None, trace, None, None,
        cut + c1 + c2 + c3 + c4, started,
    )  # fmt: skip


def _file(result: dict[str, Any], limits: Limits) -> Iterator[CaseResult]:
    suite, cut = name(result.get("name") or result.get("testFilePath"), limits.name)
    started = epoch_ms(result.get("startTime"))
    cases = result.get("assertionResults") or result.get("testResults")
    cases = cases if isinstance(cases, list) else []
    for item in cases:
        if isinstance(item, dict):
            yield from _case(item, suite, cut, limits, started)
    error = result.get("testExecError")
    error = error if isinstance(error, dict) else {}
    failure = result.get("failureMessage") or result.get("message") or error.get("message")
    if not cases and (result.get("status") == "failed" or failure):
        trace, c1 = text(failure or error.get("stack"), limits.trace)
        first = error.get("message") if isinstance(error.get("message"), str) else None
        first = _first_line(first) or _first_line(trace) or "the test file failed to run"
        message, c2 = text(first, limits.message)
        end = millis(result.get("endTime"))
        begin = millis(result.get("startTime"))
        duration = end - begin if end is not None and begin is not None and end >= begin else None
        yield CaseResult(
            suite, "", FILE_ROW, "error", 1, True, False, duration, message, None, trace,
            None, None, cut + c1 + c2, started,
        )  # fmt: skip


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield Jest case results file by file; raise ParseError on a bad file."""
    total: Any = None
    has_results = False
    rows = 0
    for prefix, value in values(chunks, ctx.limits, _WANTED, _MARKS):
        if prefix == "testResults":
            has_results = True
        elif prefix == "numTotalTests":
            total = value
        elif prefix == "testResults.item":
            if not isinstance(value, dict):
                yield ParseIssue("a testResults entry is not an object; ignored")
                continue
            for row in _file(value, ctx.limits):
                rows += 1
                yield row
    if not has_results:
        raise ParseError("Jest JSON without a testResults array", kind="malformed")
    if rows == 0 and total != 0:
        raise ParseError("Jest JSON with no tests and numTotalTests not 0")
