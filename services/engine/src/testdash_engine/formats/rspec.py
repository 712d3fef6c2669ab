"""RSpec's built-in JSON formatter (``rspec --format json``), streamed example by example.

Identity: suite = ``file_path`` as RSpec wrote it (``./spec/x_spec.rb``), classname =
``full_description`` without the trailing ``description`` (the example group chain, as
RSpec joins it: ``Cart#total when empty``), name = ``description``. The example ``id``
(``[1:2:1]``) and ``line_number`` shift whenever an example is added or moved, so neither
is part of the identity. An example without a docstring is named by RSpec from its last
matcher, or ``example at FILE:LINE`` when none ran, so its name can change with its outcome:
nothing in the file repairs that. Status: passed; failed (every exception, as RSpec counts it:
``exception.class`` is the type, ``exception.message`` without its outer newlines the
message, ``exception.backtrace`` the trace); pending (``skip``, ``xit``, ``pending``, no
block) is skipped with ``pending_message`` as the message (a ``pending`` body that failed as
expected keeps its exception's type and trace); anything else is error. ``run_time`` is in
seconds; the file has no start time.
``profile.examples`` (``--profile``) repeats examples and is ignored. Errors outside
examples (a spec file that fails to load, a ``before(:suite)`` hook) are error rows named
``(outside examples)``, one per RSpec message about them, with suite the file that failed
to load when RSpec names it. A file without examples is accepted only when
``summary.example_count`` is 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from testdash_engine.formats.jsonstream import name, number, text, values
from testdash_engine.model import (
    CaseResult,
    Detection,
    Limits,
    ParseContext,
    ParseError,
    ParseIssue,
    Status,
)

OUTSIDE_ROW = "(outside examples)"
MAX_OUTSIDE_ROWS = 1000
_STATUS: dict[str, Status] = {"passed": "passed", "failed": "failed", "pending": "skipped"}
_WANTED = frozenset({"messages", "examples.item", "summary"})
_MARKS = frozenset({"examples"})
_OUTSIDE = re.compile(r"An error occurred (?:while loading (\S+)\.(?:\s|$)|\S)")


def _split(full: str, description: str) -> str:
    """The example group chain: ``full_description`` less the example's own description."""
    if description and full.endswith(description):
        return full[: -len(description)].rstrip()
    return ""


def _row(example: dict[str, Any], limits: Limits) -> CaseResult:
    description = example.get("description")
    description = description if isinstance(description, str) else ""
    full = example.get("full_description")
    suite, c1 = name(example.get("file_path"), limits.name)
    classname, c2 = name(_split(full if isinstance(full, str) else "", description), limits.name)
    test_name, c3 = name(description, limits.name)
    status = _STATUS.get(str(example.get("status")), "error")
    error = example.get("exception")
    error = error if isinstance(error, dict) and status != "passed" else {}
    if status == "skipped":
        message, c4 = text(example.get("pending_message"), limits.message)
    else:
        raw = error.get("message")
        message, c4 = text(raw.strip("\r\n") if isinstance(raw, str) else None, limits.message)
    trace, c5 = text(error.get("backtrace"), limits.trace)
    kind, c6 = text(error.get("class"), limits.name)
    return CaseResult(
        suite, classname, test_name, status, 1, True, False, number(example.get("run_time")),
        message, kind, trace, None, None, c1 + c2 + c3 + c4 + c5 + c6, None,
    )  # fmt: skip


def _outside(messages: Any, count: int, limits: Limits) -> Iterator[CaseResult]:
    """Error rows for the errors RSpec reports outside examples."""
    found = 0
    for raw in messages if isinstance(messages, list) else ():
        match = _OUTSIDE.search(raw) if isinstance(raw, str) else None
        if match is None or found >= MAX_OUTSIDE_ROWS:
            continue
        found += 1
        suite, c1 = name(match.group(1) or "", limits.name)
        first = raw[match.start() :].split("\n", 1)[0]
        message, c2 = text(first, limits.message)
        trace, c3 = text(raw.strip("\r\n"), limits.trace)
        yield CaseResult(
            suite, "", OUTSIDE_ROW, "error", 1, True, False, None, message, None, trace,
            None, None, c1 + c2 + c3, None,
        )  # fmt: skip
    if not found and count:
        message = f"{count} error(s) occurred outside of examples"
        yield CaseResult("", "", OUTSIDE_ROW, "error", 1, True, False, None, message)


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield RSpec example results as the examples array is read; raise ParseError on a bad file."""
    limits = ctx.limits
    summary: Any = None
    messages: Any = None
    has_examples = False
    rows = 0
    for prefix, value in values(chunks, limits, _WANTED, _MARKS):
        if prefix == "examples":
            has_examples = True
        elif prefix == "summary":
            summary = value
        elif prefix == "messages":
            messages = value
        elif isinstance(value, dict):
            rows += 1
            yield _row(value, limits)
        else:
            yield ParseIssue("an examples entry is not an object; ignored")
    if not has_examples:
        raise ParseError("RSpec JSON without an examples array", kind="malformed")
    summary = summary if isinstance(summary, dict) else {}
    outside = summary.get("errors_outside_of_examples_count")
    if isinstance(outside, int) and not isinstance(outside, bool) and outside > 0:
        for row in _outside(messages, outside, limits):
            rows += 1
            yield row
    if rows == 0 and summary.get("example_count") != 0:
        raise ParseError("RSpec JSON with no examples and no summary saying zero ran")
