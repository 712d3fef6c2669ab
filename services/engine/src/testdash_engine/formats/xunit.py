"""xUnit.net XML: v1 (``<assembly>``, ``<class>``) and v2/v3 (``<assemblies>``, ``<collection>``).

Choices: the suite path is the assembly's file name then the class (v1) or
collection (v2/v3) name, joined with " / "; the class is the test's ``type`` and
the name its display ``name`` without a leading ``type.``; Pass/Fail/Skip/NotRun
are passed/failed/skipped/skipped (xUnit.net has no separate error status);
``started_at`` is the assembly's ``start-rtf`` (v3) or ``run-date``/``run-time``
(a naive local time); the skip reason is the message. ``<errors>`` of an
assembly (a failed fixture cleanup) belong to no test: each gives a ParseIssue.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from testdash_engine.formats.dotnet import (
    Draft,
    StreamTarget,
    assembly_name,
    short_name,
    timestamp,
)
from testdash_engine.formats.junit_values import parse_time
from testdash_engine.formats.xmlstream import stream
from testdash_engine.model import CaseResult, Detection, ParseContext, ParseIssue, Status
from testdash_engine.textcap import cap_str

_RESULTS: dict[str, Status] = {
    "pass": "passed",
    "fail": "failed",
    "skip": "skipped",
    "notrun": "skipped",  # xUnit.net v3: an explicit test that was not asked for
}
_SUITES = frozenset({"assembly", "collection", "class"})


class _Target(StreamTarget):
    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        # Stack of (depth, joined suite path, cut count, start time).
        self.suites: list[tuple[int, str, int, datetime | None]] = [(0, "", 0, None)]
        self.draft: Draft | None = None
        self.result = ""
        self.case_depth = -1
        self.section = ""  # the open child of the test: failure, reason, output
        self.failure_seen = False
        self.errors_depth = -1

    def _stamp(self, attrib: Any) -> datetime | None:
        stamp = attrib.get("start-rtf")
        if not stamp and attrib.get("run-date") and attrib.get("run-time"):
            stamp = f"{attrib.get('run-date')}T{attrib.get('run-time')}"
        return timestamp(stamp, self.ctx.default_tz)

    def open(self, tag: str, attrib: Any, depth: int) -> None:
        draft = self.draft
        if draft is not None:
            self._open_in_test(draft, tag, attrib, depth)
        elif tag == "test":
            self._open_test(attrib, depth)
        elif tag in _SUITES:
            _, parent, parent_cut, parent_started = self.suites[-1]
            name = attrib.get("name") or ""
            if tag == "assembly":
                name = assembly_name(name)
            name, cut = cap_str(name, self.limits.name)
            path = f"{parent} / {name}" if parent and name else (name or parent)
            started = self._stamp(attrib) or parent_started
            self.suites.append((depth, path, parent_cut + cut, started))
        elif tag == "errors":
            self.errors_depth = depth
        elif tag == "error" and depth == self.errors_depth + 1:
            kind = (attrib.get("type") or "error")[:100]
            where = (attrib.get("name") or "")[:200]
            self.out.append(
                ParseIssue(f"xUnit.net {kind} error outside any test not stored: {where}")
            )

    def _open_test(self, attrib: Any, depth: int) -> None:
        _, path, cut, started = self.suites[-1]
        classname = attrib.get("type") or ""
        name = short_name(attrib.get("name") or attrib.get("method") or "", classname)
        draft = self.draft = Draft(path, cut, classname, name, self.limits)
        draft.started = self._stamp(attrib) or started
        draft.duration = parse_time(attrib.get("time"))
        self.result = (attrib.get("result") or "").lower()
        self.case_depth = depth
        self.failure_seen = False

    def _open_in_test(self, draft: Draft, tag: str, attrib: Any, depth: int) -> None:
        level = depth - self.case_depth
        if level == 1:
            self.section = tag
            if tag == "failure":
                self.failure_seen = True
                draft.set_type(attrib.get("exception-type"), self.limits)
            elif tag == "output":
                self.capture(draft, "stdout", depth)
            elif tag == "reason":  # v2: text; v1: a <message> inside
                self.capture(draft, "message", depth, deep=True)
        elif level == 2 and self.section == "failure":
            if tag == "message":
                self.capture(draft, "message", depth)
            elif tag == "stack-trace":
                self.capture(draft, "trace", depth)

    def shut(self, tag: str, depth: int) -> None:
        draft = self.draft
        if draft is not None:
            if depth == self.case_depth:
                status = _RESULTS.get(self.result)
                if status is None:
                    status = "failed" if self.failure_seen else "passed"
                draft.status = status
                self.out.append(draft.result())
                self.draft = None
                self.case_depth = -1
            elif depth == self.case_depth + 1:
                self.section = ""
        elif depth == self.errors_depth:
            self.errors_depth = -1
        elif depth == self.suites[-1][0]:
            self.suites.pop()


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield xUnit.net v1/v2/v3 case results as read; raise ParseError on a bad file."""
    return stream(_Target(ctx), chunks)
