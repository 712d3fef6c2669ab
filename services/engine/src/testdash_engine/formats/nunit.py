"""NUnit 2 (``<test-results>``) and NUnit 3 (``<test-run>`` or a bare ``<test-suite>``) XML.

Both dialects nest ``<test-suite>`` elements around ``<test-case>`` elements; one
target reads both and tells them apart per test case by its attributes, since a
bare ``<test-suite>`` root can come from either version.

Choices: the suite path joins every enclosing test-suite name with " / " (an
assembly path keeps only its file name, so the identity is the same on every
agent); the class is NUnit 3's ``classname``, else the ``fullname`` without the
test's own name, else (NUnit 2) the full name up to its last dot; ``label``
"Error", "Cancelled" or "Invalid" on a failed case is an error; Inconclusive,
NotRunnable, Ignored, Explicit and Skipped are skipped; Warning is passed.
``started_at`` is the case's ``start-time``, else the innermost suite's, else
the run's (NUnit 2: the root's ``date`` and ``time``). Suite-level failures
(a failed OneTimeSetUp) and the declared totals invent no cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from testdash_engine.formats.dotnet import Draft, StreamTarget, assembly_name, timestamp
from testdash_engine.formats.dotnet import split_full_name as _split
from testdash_engine.formats.junit_values import parse_time
from testdash_engine.formats.xmlstream import stream
from testdash_engine.model import CaseResult, Detection, ParseContext, ParseIssue, Status
from testdash_engine.textcap import cap_str

_RESULTS: dict[str, Status] = {
    "success": "passed",  # NUnit 2
    "passed": "passed",
    "warning": "passed",  # NUnit 3.7+: passed with Assert.Warn messages
    "failure": "failed",  # NUnit 2
    "failed": "failed",
    "error": "error",  # NUnit 2
    "cancelled": "error",  # NUnit 2
    "ignored": "skipped",  # NUnit 2
    "skipped": "skipped",
    "notrunnable": "skipped",  # NUnit 2 counts it under "not run"
    "inconclusive": "skipped",
    "explicit": "skipped",
}
# NUnit 3 writes an unexpected exception, a cancelled run and an invalid test as
# result="Failed" with one of these labels; a plain assertion failure has no label.
_ERROR_LABELS = frozenset({"error", "cancelled", "invalid"})
_ROOTS = frozenset({"test-run", "test-results"})


def case_status(attrib: Any, failure_seen: bool) -> Status:
    """Status of a test case from its attributes (both dialects) and its children."""
    status = _RESULTS.get((attrib.get("result") or "").lower())
    if status == "failed" and (attrib.get("label") or "").lower() in _ERROR_LABELS:
        return "error"
    if status is not None:
        return status
    if (attrib.get("executed") or "").lower() == "false":
        return "skipped"
    if failure_seen or (attrib.get("success") or "").lower() == "false":
        return "failed"
    return "passed"


def _names(attrib: Any) -> tuple[str, str]:
    name = attrib.get("name") or ""
    classname = attrib.get("classname")
    if classname:
        return classname, name
    full = attrib.get("fullname")
    if full:  # NUnit 3.0 wrote no classname
        if full.endswith("." + name) and len(full) > len(name) + 1:
            return full[: -len(name) - 1], name
        return _split(full)[0], name
    return _split(name)  # NUnit 2: name is Namespace.Class.Method(args)


class _Target(StreamTarget):
    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        # Stack of (depth, joined suite path, cut count, start time).
        self.suites: list[tuple[int, str, int, datetime | None]] = [(0, "", 0, None)]
        self.draft: Draft | None = None
        self.attrib: Any = None
        self.case_depth = -1
        self.section = ""  # the open child of the test case: failure, reason, output
        self.failure_seen = False

    def _stamp(self, attrib: Any) -> datetime | None:
        stamp = attrib.get("start-time")
        if not stamp and attrib.get("date") and attrib.get("time"):  # NUnit 2 root
            stamp = f"{attrib.get('date')}T{attrib.get('time')}"
        return timestamp(stamp, self.ctx.default_tz)

    def open(self, tag: str, attrib: Any, depth: int) -> None:
        draft = self.draft
        if draft is not None:
            self._open_in_case(draft, tag, depth)
        elif tag == "test-case":
            self._open_case(attrib, depth)
        elif tag == "test-suite":
            _, parent, parent_cut, parent_started = self.suites[-1]
            name, cut = cap_str(assembly_name(attrib.get("name") or ""), self.limits.name)
            path = f"{parent} / {name}" if parent and name else (name or parent)
            started = self._stamp(attrib) or parent_started
            self.suites.append((depth, path, parent_cut + cut, started))
        elif tag in _ROOTS and depth == 1:
            self.suites.append((depth, "", 0, self._stamp(attrib)))

    def _open_case(self, attrib: Any, depth: int) -> None:
        _, path, cut, started = self.suites[-1]
        classname, name = _names(attrib)
        draft = self.draft = Draft(path, cut, classname, name, self.limits)
        draft.started = self._stamp(attrib) or started
        draft.duration = parse_time(attrib.get("duration") or attrib.get("time"))
        self.attrib = attrib
        self.case_depth = depth
        self.failure_seen = False

    def _open_in_case(self, draft: Draft, tag: str, depth: int) -> None:
        level = depth - self.case_depth
        if level == 1:
            self.section = tag
            if tag == "failure":
                self.failure_seen = True
            elif tag == "output":
                self.capture(draft, "stdout", depth)
        elif level == 2 and self.section in ("failure", "reason"):
            if tag == "message":
                self.capture(draft, "message", depth)
            elif tag == "stack-trace" and self.section == "failure":
                self.capture(draft, "trace", depth)

    def shut(self, tag: str, depth: int) -> None:
        draft = self.draft
        if draft is not None:
            if depth == self.case_depth:
                draft.status = case_status(self.attrib, self.failure_seen)
                self.out.append(draft.result())
                self.draft = self.attrib = None
                self.case_depth = -1
            elif depth == self.case_depth + 1:
                self.section = ""
        elif depth == self.suites[-1][0]:
            self.suites.pop()


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield NUnit 2/3 case results as the chunks are read; raise ParseError on a bad file."""
    return stream(_Target(ctx), chunks)
