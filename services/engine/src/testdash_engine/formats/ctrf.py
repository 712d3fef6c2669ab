"""CTRF JSON (Common Test Report Format), streamed one test object at a time.

Each ``results.tests`` item is built whole (capped by jsonstream's item limits).
Identity: suite = ``filePath``, classname = ``suite`` (array joined " / "),
name = ``name``. Status: passed, failed, skipped; ``pending`` is skipped; ``other``
(interrupted, unknown) is error. Retries: ``retryAttempts`` items are attempts;
when the list also holds the final run (its last ``attempt`` is ``retries`` + 1)
that entry is merged into the test object's row. The final row is flaky when it
passed and an earlier attempt did not, or the test says ``flaky`` and passed.
A file without tests is accepted only when ``summary.tests`` is 0.
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

_STATUS: dict[str, Status] = {
    "passed": "passed",
    "failed": "failed",
    "skipped": "skipped",
    "pending": "skipped",
    "other": "error",
}
_WANTED = frozenset({"results.summary", "results.tests.item"})
_MARKS = frozenset({"results.tests"})
MAX_ATTEMPTS = 1000


def _status(value: Any) -> Status:
    return _STATUS.get(value if isinstance(value, str) else "", "error")


def _row(
    ident: tuple[str, str, str, int],
    data: dict[str, Any],
    limits: Limits,
    attempt: int,
    final: bool,
    flaky: bool,
    fallback: datetime | None,
) -> CaseResult:
    suite, classname, test_name, cut = ident
    message, c1 = text(data.get("message"), limits.message)
    trace, c2 = text(data.get("trace"), limits.trace)
    stdout, c3 = text(data.get("stdout"), limits.output)
    stderr, c4 = text(data.get("stderr"), limits.output)
    status = _status(data.get("status"))
    return CaseResult(
        suite, classname, test_name, status, attempt, final, flaky,
        millis(data.get("duration")), message, None, trace, stdout, stderr,
        cut + c1 + c2 + c3 + c4, epoch_ms(data.get("start")) or fallback,
    )  # fmt: skip


def _results(
    test: dict[str, Any], limits: Limits, started: datetime | None
) -> Iterator[CaseResult]:
    """Turn one CTRF test object into its attempt rows."""
    suite, c1 = name(test.get("filePath"), limits.name)
    chain = test.get("suite")
    if isinstance(chain, list):
        chain = " / ".join(str(part) for part in chain if part not in (None, ""))
    classname, c2 = name(chain, limits.name)
    test_name, c3 = name(test.get("name"), limits.name)
    ident = (suite, classname, test_name, c1 + c2 + c3)
    raw = test.get("retryAttempts")
    attempts = (
        [a for a in raw[:MAX_ATTEMPTS] if isinstance(a, dict)] if isinstance(raw, list) else []
    )
    retries = test.get("retries")
    retries = retries if isinstance(retries, int) and not isinstance(retries, bool) else 0
    final_data = test
    if attempts and attempts[-1].get("attempt") == retries + 1 and retries:
        # The list holds the final run too: merge it under the test object's own fields.
        last = attempts.pop()
        final_data = {**last, **{k: v for k, v in test.items() if v is not None}}
        final_data.update((k, last[k]) for k in ("start", "duration") if k in last)
    number = 0
    failed_before = False
    for entry in attempts:
        given = entry.get("attempt")
        number = given if isinstance(given, int) and given > number else number + 1
        row = _row(ident, entry, limits, number, False, False, started)
        failed_before = failed_before or row.status in ("failed", "error")
        yield row
    number = max(number + 1, retries + 1)
    status = _status(final_data.get("status"))
    flaky = status == "passed" and (
        failed_before or final_data.get("flaky") is True or (not attempts and retries > 0)
    )
    yield _row(ident, final_data, limits, number, True, flaky, started)


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield CTRF case results as the tests array is read; raise ParseError on a bad file."""
    limits = ctx.limits
    summary: Any = None
    started: datetime | None = None
    has_tests = False
    count = 0
    for prefix, value in values(chunks, limits, _WANTED, _MARKS):
        if prefix == "results.tests":
            has_tests = True
        elif prefix == "results.summary":
            summary = value
            if isinstance(summary, dict):
                started = epoch_ms(summary.get("start"))
        elif isinstance(value, dict):
            count += 1
            yield from _results(value, limits, started)
        else:
            yield ParseIssue(f"results.tests item {count + 1} is not an object; ignored")
    if not has_tests:
        raise ParseError("CTRF without a results.tests array", kind="malformed")
    if count == 0 and not (isinstance(summary, dict) and summary.get("tests") == 0):
        raise ParseError("CTRF with no tests and no summary saying zero tests ran")
