"""MSTest / VSTest TRX (``<TestRun>``), whatever adapter ran the tests (MSTest, NUnit, xUnit).

A ``UnitTestResult`` names its test by ``testId``; the class and assembly are in
``TestDefinitions``, which vstest writes *after* ``Results``. So results are held
(text already capped) until both sections have been read, then joined and sent.
What is held is bounded: past ``MAX_PENDING`` results or ``MAX_PENDING_CHARS``
characters of text the oldest half is sent without its definition (class taken
from a dotted test name), and a ParseIssue says so; past ``MAX_DEFINITIONS``
definitions further ones are not kept.

Choices: the suite is the assembly's file name (``TestMethod/@codeBase``, else
``@storage``); a data-driven parent (one with ``InnerResults``) is an aggregate,
only its leaf rows are results; the same ``testId`` with the same name seen
again is a retry: attempts in document order, the last one final, flaky when it
passed after a failed attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from testdash_engine.formats.dotnet import (
    Draft,
    StreamTarget,
    parse_timespan,
    short_name,
    split_full_name,
    timestamp,
)
from testdash_engine.formats.xmlstream import stream
from testdash_engine.model import CaseResult, Detection, ParseContext, ParseIssue, Status
from testdash_engine.textcap import cap_str

MAX_PENDING = 50_000
MAX_PENDING_CHARS = 16 * 1024 * 1024
MAX_DEFINITIONS = 200_000
MAX_DEFINITION_CHARS = 32 * 1024 * 1024

_OUTCOMES: dict[str, Status] = {
    "passed": "passed",
    "passedbutrunaborted": "passed",
    "completed": "passed",
    "warning": "passed",
    "failed": "failed",
    "error": "error",
    "timeout": "error",
    "aborted": "error",  # the test was running when its host died or the run was stopped
    "disconnected": "error",
    "notexecuted": "skipped",
    "notrunnable": "skipped",  # never executed (a bad test signature, UTA007)
    "inconclusive": "skipped",
    "pending": "skipped",
    "inprogress": "skipped",
}
_BAD = ("failed", "error")


def _class_only(classname: str) -> str:
    """``Ns.Class, Assembly, Version=...`` (old MSTest) to ``Ns.Class``; generics kept."""
    depth = 0
    for index, char in enumerate(classname):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            return classname[:index].strip()
    return classname


def _basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


class _Frame:
    """A result element being read."""

    __slots__ = (
        "depth", "draft", "test_id", "parent_id", "name",
        "aggregate", "unknown", "level1", "level2",
    )  # fmt: skip

    def __init__(self, depth: int, draft: Draft, test_id: str, parent_id: str, name: str) -> None:
        self.depth = depth
        self.draft = draft
        self.test_id = test_id
        self.parent_id = parent_id  # an inner result without a definition takes its parent's
        self.name = name
        self.aggregate = False
        self.unknown = False  # an outcome we do not know: an ErrorInfo makes it a failure
        self.level1 = ""  # open child: Output or InnerResults
        self.level2 = ""  # open grandchild: ErrorInfo


class _Target(StreamTarget):
    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self.in_results = self.results_done = False
        self.in_definitions = self.definitions_done = False
        self.frames: list[_Frame] = []
        # (testId, name) -> attempts in document order, oldest test first.
        self.pending: dict[tuple[str, str], list[_Frame]] = {}
        self.pending_count = self.pending_chars = 0
        # testId -> (suite, class, characters cut from them), both already capped.
        self.definitions: dict[str, tuple[str, str, int]] = {}
        self.definition_chars = 0
        self.definition: tuple[int, str, str] | None = None  # (depth, id, storage)
        self.warned: set[str] = set()

    def open(self, tag: str, attrib: Any, depth: int) -> None:
        frames = self.frames
        if frames:
            frame = frames[-1]
            level = depth - frame.depth
            if level == 2 and frame.level1 == "InnerResults":
                frame.aggregate = True
                self._open_result(attrib, depth, frame)
            else:
                self._open_in_result(frame, tag, level, depth)
        elif self.in_results and depth == 3 and "testId" in attrib:
            self._open_result(attrib, depth, None)
        elif tag == "Results" and depth == 2:
            self.in_results = True
        elif tag == "TestDefinitions" and depth == 2:
            self.in_definitions = True
        elif self.in_definitions and depth == 3 and attrib.get("id"):
            self.definition = (depth, attrib.get("id"), attrib.get("storage") or "")
        elif tag == "TestMethod" and self.definition is not None:
            self._define(attrib, *self.definition[1:])

    def _open_result(self, attrib: Any, depth: int, parent: _Frame | None) -> None:
        name = attrib.get("testName") or ""
        row = attrib.get("dataRowInfo")
        if parent is not None and row and name == parent.name:
            name = f"{name} (Data Row {row})"  # old MSTest data rows repeat the parent's name
        draft = Draft("", 0, "", "", self.limits)
        draft.duration = parse_timespan(attrib.get("duration"))
        stamp = attrib.get("startTime")
        draft.started = timestamp(stamp, self.ctx.default_tz)
        outcome = (attrib.get("outcome") or "").lower()
        draft.status = _OUTCOMES.get(outcome, "passed")
        test_id = attrib.get("testId") or ""
        frame = _Frame(depth, draft, test_id, parent.test_id if parent else test_id, name)
        frame.unknown = outcome not in _OUTCOMES
        self.frames.append(frame)

    def _open_in_result(self, frame: _Frame, tag: str, level: int, depth: int) -> None:
        if level == 1:
            frame.level1 = tag
        elif level == 2 and frame.level1 == "Output":
            if tag == "StdOut":
                self.capture(frame.draft, "stdout", depth)
            elif tag == "StdErr":
                self.capture(frame.draft, "stderr", depth)
            elif tag == "ErrorInfo":
                if frame.unknown:
                    frame.draft.status = "failed"
                frame.level2 = tag
        elif level == 3 and frame.level2 == "ErrorInfo":
            if tag == "Message":
                self.capture(frame.draft, "message", depth)
            elif tag == "StackTrace":
                self.capture(frame.draft, "trace", depth)

    def _define(self, attrib: Any, test_id: str, storage: str) -> None:
        if len(self.definitions) >= MAX_DEFINITIONS or self.definition_chars > MAX_DEFINITION_CHARS:
            self._warn("too many test definitions to keep: some class names guessed")
            return
        limit = self.limits.name
        suite, suite_cut = cap_str(_basename(attrib.get("codeBase") or storage), limit)
        classname, class_cut = cap_str(_class_only(attrib.get("className") or ""), limit)
        self.definitions[test_id] = (suite, classname, suite_cut + class_cut)
        self.definition_chars += len(test_id) + len(suite) + len(classname)

    def shut(self, tag: str, depth: int) -> None:
        frames = self.frames
        if frames:
            frame = frames[-1]
            if depth == frame.depth:
                frames.pop()
                if not frame.aggregate:
                    self._hold(frame)
            elif depth == frame.depth + 1:
                frame.level1 = ""
            elif depth == frame.depth + 2:
                frame.level2 = ""
        elif depth == 2 and self.in_results:
            self.in_results = False
            self.results_done = True
            if self.definitions_done:
                self._send(len(self.pending))
        elif depth == 2 and self.in_definitions:
            self.in_definitions = False
            self.definitions_done = True
            if self.results_done:
                self._send(len(self.pending))
        elif self.definition is not None and depth == self.definition[0]:
            self.definition = None

    def _hold(self, frame: _Frame) -> None:
        key = (frame.test_id, frame.name)
        self.pending.setdefault(key, []).append(frame)
        self.pending_count += 1
        self.pending_chars += self._weight(frame)
        if self.pending_count > MAX_PENDING or self.pending_chars > MAX_PENDING_CHARS:
            self._warn("too many results before the test definitions: some class names guessed")
            self._send((len(self.pending) + 1) // 2)

    def _weight(self, frame: _Frame) -> int:
        """Characters a held result keeps: its capped text and its raw name and id."""
        return frame.draft.kept(self.limits) + len(frame.name) + len(frame.test_id)

    def _warn(self, message: str) -> None:
        if message not in self.warned:
            self.warned.add(message)
            self.out.append(ParseIssue(message))

    def _send(self, groups: int) -> None:
        """Join the oldest ``groups`` held tests with their definitions and emit them."""
        pending = self.pending
        for key in list(pending)[:groups]:
            attempts = pending.pop(key)
            last = len(attempts)
            failed_before = False
            for number, frame in enumerate(attempts, start=1):
                draft = frame.draft
                self.pending_chars -= self._weight(frame)
                self._identify(frame)
                final = number == last
                flaky = final and failed_before and draft.status == "passed"
                self.out.append(draft.result(number, final, flaky))
                failed_before = failed_before or draft.status in _BAD
                self.pending_count -= 1

    def _identify(self, frame: _Frame) -> None:
        draft, name = frame.draft, frame.name
        limit = self.limits.name
        found = self.definitions.get(frame.test_id) or self.definitions.get(frame.parent_id)
        if found is not None:
            draft.suite, draft.classname, cut = found
        else:  # NUnit and xUnit adapters name tests Namespace.Class.Method
            draft.classname, cut = cap_str(split_full_name(name)[0], limit)
        draft.name, name_cut = cap_str(short_name(name, draft.classname), limit)
        draft.cut += cut + name_cut

    def finish(self) -> None:
        self._send(len(self.pending))


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield TRX results joined with their definitions; raise ParseError on a bad file."""
    return stream(_Target(ctx), chunks)
