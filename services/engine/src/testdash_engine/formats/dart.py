"""Dart and Flutter ``--reporter json`` / ``--machine`` event streams, line by line.

Identity: suite = the suite's ``path`` (the test file), classname = the group
chain joined " / " (each group's own part of its name), name = the test name
without its innermost group's prefix. Status from ``testDone``: success is
passed (skipped when ``skipped``), failure is failed, error is error; a test
that never got ``testDone`` is error. Hidden tests (the "loading" pseudo-test,
setUpAll/tearDownAll) are left out unless they did not succeed: a suite that
failed to load is an error row. Message and trace come from ``error`` events,
stdout from ``print`` events; durations are ``testDone.time - testStart.time``
in ms. Each ``testStart`` is its own test: Dart files may hold two tests of one
name (the corpus has some), so same-named tests are not taken for retries.
The reporter gives no wall-clock time, so ``started_at`` stays None.
A stream with no visible test is accepted only when it has a ``done`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from testdash_engine.formats.jsonstream import EventLines, millis, name, number
from testdash_engine.model import (
    CaseResult,
    Detection,
    Limits,
    ParseContext,
    ParseError,
    ParseIssue,
    Status,
)
from testdash_engine.textcap import CappedText, cap_str

_RESULTS: dict[str, Status] = {"success": "passed", "failure": "failed", "error": "error"}
MAX_GROUPS = 100_000


class _Test:
    __slots__ = ("suite", "classname", "name", "cut", "start", "message", "trace", "stdout")

    def __init__(self, suite: str, classname: str, test_name: str, cut: int, start: Any) -> None:
        self.suite = suite
        self.classname = classname
        self.name = test_name
        self.cut = cut
        self.start = start
        self.message: str | None = None
        self.trace: CappedText | None = None
        self.stdout: CappedText | None = None


def _text(capped: CappedText | None) -> tuple[str | None, int]:
    return capped.result() if capped is not None and capped.total else (None, 0)


class _State:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.suites: dict[Any, str] = {}
        self.groups: dict[Any, tuple[str, str]] = {}  # id -> (full name, chain)
        self.tests: dict[Any, _Test] = {}
        self.done = False
        self.visible = 0

    def group(self, group: dict[str, Any]) -> None:
        if len(self.groups) >= MAX_GROUPS:
            raise ParseError(f"more than {MAX_GROUPS} groups", kind="too-large")
        full = group.get("name") or ""
        full = full if isinstance(full, str) else str(full)
        parent_full, chain = self.groups.get(group.get("parentID"), ("", ""))
        own = full[len(parent_full) :].strip() if full.startswith(parent_full) else full
        if own:
            chain = f"{chain} / {own}" if chain else own
        self.groups[group.get("id")] = (full[: self.limits.name * 4], chain[: self.limits.name * 4])

    def start(self, test: dict[str, Any], time: Any) -> None:
        limits = self.limits
        suite, c1 = name(self.suites.get(test.get("suiteID"), ""), limits.name)
        ids = test.get("groupIDs")
        inner = ids[-1] if isinstance(ids, list) and ids else None
        full, chain = self.groups.get(inner, ("", "")) if _hashable(inner) else ("", "")
        raw = test.get("name") or ""
        raw = raw if isinstance(raw, str) else str(raw)
        if full and raw.startswith(full + " "):
            raw = raw[len(full) + 1 :]
        classname, c2 = name(chain, limits.name)
        test_name, c3 = name(raw, limits.name)
        self.tests[test.get("id")] = _Test(suite, classname, test_name, c1 + c2 + c3, time)

    def error(self, test: _Test, event: dict[str, Any]) -> None:
        error = event.get("error")
        error = error if isinstance(error, str) else str(error or "")
        if test.message is None and error.strip():
            test.message = error.strip()
        if test.trace is None:
            test.trace = CappedText(self.limits.trace)
        stack = event.get("stackTrace")
        test.trace.add(error + ("\n" + stack if isinstance(stack, str) and stack else "") + "\n")

    def done_test(self, test: _Test, event: dict[str, Any] | None) -> Iterator[CaseResult]:
        if event is None:
            status: Status = "error"
            if test.message is None:
                test.message = "the test did not finish before the end of the stream"
            duration = None
        else:
            status = _RESULTS.get(str(event.get("result")), "error")
            if status == "passed" and event.get("skipped") is True:
                status = "skipped"
            if event.get("hidden") is True and status == "passed":
                return
            end, begin = number(event.get("time")), number(test.start)
            duration = millis(end - begin) if end is not None and begin is not None else None
        self.visible += 1
        message, c1 = cap_str(test.message, self.limits.message) if test.message else (None, 0)
        trace, c2 = _text(test.trace)
        stdout, c3 = _text(test.stdout)
        yield CaseResult(
            test.suite, test.classname, test.name, status, 1, True, False, duration,
            message, None, trace, stdout, None, test.cut + c1 + c2 + c3, None,
        )  # fmt: skip

    def handle(self, event: dict[str, Any]) -> Iterator[CaseResult]:
        kind = event.get("type")
        if kind == "testStart" and isinstance(event.get("test"), dict):
            self.start(event["test"], event.get("time"))
            return
        if kind == "suite" and isinstance(event.get("suite"), dict):
            suite = event["suite"]
            if _hashable(suite.get("id")) and len(self.suites) < MAX_GROUPS:
                self.suites[suite.get("id")] = str(suite.get("path") or "")
        elif kind == "group" and isinstance(event.get("group"), dict):
            if _hashable(event["group"].get("id")):
                self.group(event["group"])
        elif kind == "done":
            self.done = True
        yield from self.test_event(kind, event)

    def test_event(self, kind: Any, event: dict[str, Any]) -> Iterator[CaseResult]:
        """Handle an event about a running test (error, print, testDone)."""
        test_id = event.get("testID")
        test = self.tests.get(test_id) if _hashable(test_id) else None
        if test is None:
            return
        if kind == "error":
            self.error(test, event)
        elif kind == "print":
            message = event.get("message")
            if event.get("messageType") == "skip" and isinstance(message, str):
                test.message = test.message or message.strip() or None
            elif isinstance(message, str):
                test.stdout = test.stdout or CappedText(self.limits.output)
                test.stdout.add(message + "\n")
        elif kind == "testDone":
            del self.tests[test_id]
            yield from self.done_test(test, event)


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, int | str | float)


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield Dart case results as ``testDone`` events arrive; raise ParseError on a bad file."""
    state = _State(ctx.limits)
    stream = EventLines(chunks, "type", "Dart test", "Dart test")
    for event in stream:
        yield from state.handle(event)
    for test in list(state.tests.values()):
        yield from state.done_test(test, None)
    if not state.visible and not state.done:
        raise ParseError("Dart test stream with no tests and no end of run")
    yield from stream.note()
