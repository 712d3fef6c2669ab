"""Mocha's built-in JSON reporter (``--reporter json``), streamed test by test.

Only ``tests`` gives rows (``passes``/``pending``/``failures`` repeat them), except
a ``failures`` entry not in ``tests``: a failed hook (``"before all" hook``),
which becomes an error row. Identity: suite = ``file``, classname = ``fullTitle``
without the trailing ``title`` (Mocha joins describe titles with spaces, so the
chain cannot be split further), name = ``title``. Status: an empty ``err`` is
passed, or skipped when the test has no ``duration`` (Mocha never ran it);
an ``err`` that is an assertion (``AssertionError``, ``actual``/``expected``,
unexpected.js's ``UnexpectedError``) or a timeout is failed, any other
exception is error. Mocha keeps only the last try of a retried test: its
``currentRetry`` gives the attempt number, and a pass after retries is flaky.
A file without tests is accepted only when ``stats.tests`` is 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from testdash_engine.formats.jsonstream import millis, name, text, values
from testdash_engine.formats.junit_values import parse_timestamp
from testdash_engine.model import (
    CaseResult,
    Detection,
    Limits,
    ParseContext,
    ParseError,
    ParseIssue,
    Status,
)

_WANTED = frozenset({"stats", "tests.item", "failures.item"})
_MARKS = frozenset({"tests"})
MAX_REMEMBERED = 100_000


def _failed(err: dict[str, Any]) -> bool:
    """True for an assertion or timeout, False for another exception."""
    kind = str(err.get("name") or "")
    return (
        "Assert" in kind
        or kind in ("UnexpectedError", "ExpectationError", "JestAssertionError")
        or "actual" in err
        or "expected" in err
        or err.get("code") in ("ERR_ASSERTION", "ERR_MOCHA_TIMEOUT")
    )


def _row(test: dict[str, Any], limits: Limits, started: Any, hook: bool) -> CaseResult:
    title = test.get("title")
    title = title if isinstance(title, str) else ""
    full = test.get("fullTitle")
    full = full if isinstance(full, str) else title
    chain = full[: -len(title)].strip() if title and full.endswith(title) else ""
    suite, c1 = name(test.get("file"), limits.name)
    classname, c2 = name(chain, limits.name)
    test_name, c3 = name(title, limits.name)
    err = test.get("err")
    err = err if isinstance(err, dict) else {}
    status: Status
    if hook:
        status = "error"
    elif err:
        status = "failed" if _failed(err) else "error"
    else:
        status = "passed" if "duration" in test else "skipped"
    message, c4 = text(err.get("message"), limits.message)
    trace, c5 = text(err.get("stack"), limits.trace)
    kind = err.get("name") if isinstance(err.get("name"), str) else None
    retry = test.get("currentRetry")
    retry = retry if isinstance(retry, int) and not isinstance(retry, bool) and retry > 0 else 0
    return CaseResult(
        suite, classname, test_name, status, retry + 1, True, status == "passed" and retry > 0,
        millis(test.get("duration")), message, kind if status != "passed" else None, trace,
        None, None, c1 + c2 + c3 + c4 + c5, started,
    )  # fmt: skip


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield Mocha case results as the tests array is read; raise ParseError on a bad file."""
    limits = ctx.limits
    stats: Any = None
    started = None
    has_tests = False
    count = 0
    failed: set[tuple[Any, Any]] = set()
    for prefix, value in values(chunks, limits, _WANTED, _MARKS):
        if prefix == "tests":
            has_tests = True
        elif prefix == "stats":
            stats = value
            if isinstance(stats, dict) and isinstance(stats.get("start"), str):
                started = parse_timestamp(stats["start"], ctx.default_tz)
        elif not isinstance(value, dict):
            yield ParseIssue(f"a {prefix} entry is not an object; ignored")
        elif prefix == "tests.item":
            count += 1
            row = _row(value, limits, started, hook=False)
            if row.status in ("failed", "error") and len(failed) < MAX_REMEMBERED:
                failed.add((value.get("fullTitle"), value.get("file")))
            yield row
        elif (value.get("fullTitle"), value.get("file")) not in failed:
            count += 1  # a failed hook: its tests never ran, so it stands for them
            yield _row(value, limits, started, hook=True)
    if not has_tests:
        raise ParseError("Mocha JSON without a tests array", kind="malformed")
    if count == 0 and not (isinstance(stats, dict) and stats.get("tests") == 0):
        raise ParseError("Mocha JSON with no tests and no stats saying zero tests ran")
