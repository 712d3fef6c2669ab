"""Allure 2 ``*-result.json``: one file per test attempt, streamed with ijson.

Choices: the suite is the ``parentSuite`` / ``suite`` / ``subSuite`` labels joined
with " / " (Allure's own Suites tree); the classname is the ``testClass`` label or
empty; the name is ``name``, else ``fullName``. A retry is another result file with
the same ``historyId``, so each file is one attempt and final as far as it knows;
``statusDetails.flaky`` sets ``flaky``. Steps, attachments and parameters are
skipped unread. Containers (``*-container.json``) are refused by detection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from testdash_engine.formats.allure_common import status_of, timing
from testdash_engine.formats.jsonstream import JsonEvents, string
from testdash_engine.model import CaseResult, Detection, ParseContext, ParseError, ParseIssue
from testdash_engine.textcap import cap_str

# A result file holds one test; anything this big is not one (steps are skipped unread).
MAX_BYTES = 64 * 1024 * 1024
_WANTED = frozenset({"name", "fullName", "status", "statusDetails", "start", "stop", "labels"})
# Keys only a test result has: an object without any of them is some other JSON.
_RESULT_KEYS = frozenset({"uuid", "historyId", "name", "fullName"})
_CONTAINER_KEYS = frozenset({"children", "befores", "afters"})
_SUITE_LABELS = ("parentSuite", "suite", "subSuite")


def _labels(value: Any) -> dict[str, str]:
    """The first value of each label; malformed entries are ignored as Allure does."""
    found: dict[str, str] = {}
    if value.__class__ is not list:
        return found
    for label in value:
        if label.__class__ is dict:
            name, val = label.get("name"), label.get("value")
            if name.__class__ is str and val.__class__ is str and name not in found:
                found[name] = val
    return found


def _details(value: Any) -> tuple[str | None, str | None, bool]:
    if value.__class__ is not dict:
        return None, None, False
    message, trace = value.get("message"), value.get("trace")
    return (
        message if message.__class__ is str and message.strip() else None,
        trace if trace.__class__ is str and trace.strip() else None,
        value.get("flaky") is True,
    )


def read_result(events: JsonEvents) -> dict[str, Any]:
    """Read the top-level object, keeping only the keys a CaseResult needs."""
    event, _ = events.next()
    if event != "start_map":
        raise ParseError("an Allure 2 result must be a JSON object")
    fields: dict[str, Any] = {}
    seen = False
    while True:
        event, key = events.next()
        if event == "end_map":
            if not seen:
                raise ParseError("a JSON object without Allure result fields", kind="not-a-report")
            return fields
        event, value = events.next()
        seen |= key in _RESULT_KEYS
        if key in _CONTAINER_KEYS:
            raise ParseError(
                "an Allure container (fixtures only), not a test result", kind="not-a-report"
            )
        if key in _WANTED:
            fields[key] = events.value(event, value, skip=frozenset({"steps", "attachments"}))
        else:
            events.skip(event, value)


def to_case(fields: dict[str, Any], ctx: ParseContext) -> tuple[CaseResult, str | None]:
    """Turn the kept fields into a CaseResult and an optional note about its status."""
    limits = ctx.limits
    labels = _labels(fields.get("labels"))
    suite = " / ".join(labels[k] for k in _SUITE_LABELS if labels.get(k))
    name = string(fields.get("name")) or string(fields.get("fullName")) or ""
    status, note = status_of(fields.get("status"))
    message, trace, flaky = _details(fields.get("statusDetails"))
    duration, started_at = timing(fields.get("start"), fields.get("stop"))
    suite, cut = cap_str(suite, limits.name)
    classname, class_cut = cap_str(labels.get("testClass", ""), limits.name)
    name, name_cut = cap_str(name, limits.name)
    cut += class_cut + name_cut
    if message is not None:
        message, more = cap_str(message, limits.message)
        cut += more
    if trace is not None:
        trace, more = cap_str(trace, limits.trace)
        cut += more
    case = CaseResult(
        suite, classname, name, status, 1, True, flaky, duration, message, None, trace,
        None, None, cut, started_at,
    )  # fmt: skip
    return case, note


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield the one attempt an Allure 2 result file holds; raise ParseError on a bad file."""
    events = JsonEvents(chunks, ctx.limits, max_bytes=MAX_BYTES)
    fields = read_result(events)
    events.end()
    case, note = to_case(fields, ctx)
    if note is not None:
        yield ParseIssue(note)
    yield case
