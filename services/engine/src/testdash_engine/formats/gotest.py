"""``go test -json`` (test2json) event streams, including gotestsum rerun files.

Read line by line (jsonstream bounds a line's length); lines that are not JSON
(stderr of the go command mixed in) are skipped and reported once as an issue.
Identity: suite and classname = ``Package``, name = ``Test`` (subtests keep Go's
own "TestA/sub" name, as gotestsum's JUnit does, so both formats share history).
Status: pass, fail, skip; a test that ran but never ended (a panic, a timeout,
a cut file) is error. A package that failed with no failing test of its own
(build or setup failure, TestMain, a panic outside tests) gives one error row
named ``(package)`` whose trace is the build output or the package output.

Attempts: every further run of the same test in one file (gotestsum
``--rerun-fails``) is the next attempt, numbered by :mod:`attempts` (a failure
is held until the test runs again or the file ends). Memory: the held failures,
the running tests' capped output, one counter per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from testdash_engine.formats.attempts import Attempts
from testdash_engine.formats.jsonstream import EventLines, name, number
from testdash_engine.formats.junit_values import parse_timestamp
from testdash_engine.model import (
    CaseResult,
    Detection,
    ParseContext,
    ParseIssue,
    Status,
)
from testdash_engine.textcap import CappedText, cap_str

PACKAGE_ROW = "(package)"
_FRAMING = ("=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- FAIL", "--- SKIP")
_END: dict[str, Status] = {"pass": "passed", "fail": "failed", "skip": "skipped"}


class _Run:
    """A test (or package) between its first event and its end."""

    __slots__ = ("started", "output", "first", "failed")

    def __init__(self, started: datetime | None, cap: int) -> None:
        self.started = started
        self.output = CappedText(cap)
        self.first: str | None = None  # first line that is not framing: the message
        self.failed = False  # for a package: one of its tests failed in this run

    def add(self, text: str) -> None:
        self.output.add(text)
        if self.first is None:
            line = text.strip()
            if line and not line.startswith(_FRAMING):
                self.first = line


class _State:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.limits = ctx.limits
        self.running: dict[tuple[str, str], _Run] = {}
        self.packages: dict[str, _Run] = {}
        self.builds: dict[str, CappedText] = {}
        self.attempts = Attempts()
        self.stamps: dict[str, datetime | None] = {}

    def time(self, event: dict[str, Any]) -> datetime | None:
        stamp = event.get("Time")
        if not isinstance(stamp, str):
            return None
        if stamp not in self.stamps:
            if len(self.stamps) > 4096:
                self.stamps.clear()
            self.stamps[stamp] = parse_timestamp(stamp, self.ctx.default_tz)
        return self.stamps[stamp]

    def package(self, pkg: str, event: dict[str, Any]) -> _Run:
        run = self.packages.get(pkg)
        if run is None:
            run = self.packages[pkg] = _Run(self.time(event), self.limits.output)
        return run

    def row(
        self, pkg: str, test: str, status: Status, run: _Run, duration: float | None,
        extra: str | None = None,
    ) -> Iterator[CaseResult]:  # fmt: skip
        """Emit (or hold) one finished attempt of ``pkg``/``test``."""
        limits = self.limits
        suite, cut = name(pkg, limits.name)
        test_name, cut2 = name(test, limits.name)
        trace, cut3 = run.output.result() if run.output.total else (None, 0)
        if extra:
            trace = f"{trace}\n{extra}" if trace else extra
        first = run.first or extra
        message, cut4 = cap_str(first, limits.message) if first else (None, 0)
        stdout = None
        if status == "passed":  # a passing test's log is output, not a trace
            stdout, trace = (trace if run.first else None), None
            cut3 = cut3 if stdout else 0
            message, cut4 = None, 0
        elif status == "skipped":
            trace, cut3 = None, 0
        yield from self.attempts.add(CaseResult(
            suite, suite, test_name, status, 1, True, False, duration, message, None,
            trace, stdout, None, cut + cut2 + cut3 + cut4, run.started,
        ))  # fmt: skip

    def end_package(self, pkg: str, event: dict[str, Any], action: str) -> Iterator[CaseResult]:
        package = self.package(pkg, event)
        for key in [k for k in self.running if k[0] == pkg]:
            run = self.running.pop(key)
            package.failed = True
            note = "the test did not finish: the package ended (a panic or a timeout?)"
            yield from self.row(pkg, key[1], "error", run, None, note)
        if action == "fail" and not package.failed:
            build = event.get("FailedBuild")
            output = self.builds.pop(build, None) if isinstance(build, str) else None
            if output is not None:
                package.output = output
                package.first = "build failed"
            elif package.first is None:
                package.first = "package failed"
            yield from self.row(pkg, PACKAGE_ROW, "error", package, number(event.get("Elapsed")))
        self.packages.pop(pkg, None)

    def build_output(self, event: dict[str, Any]) -> None:
        """Keep the compiler's output (go 1.24+ ``build-output``) for the package's row."""
        path = event.get("ImportPath")
        if event.get("Action") == "build-output" and isinstance(path, str):
            build = self.builds.get(path)
            if build is None:
                build = self.builds[path] = CappedText(self.limits.trace)
            build.add(str(event.get("Output") or ""))

    def handle(self, event: dict[str, Any]) -> Iterator[CaseResult]:
        action = event.get("Action")
        if action == "build-output" or action == "build-fail":
            self.build_output(event)
            return
        pkg = event.get("Package")
        pkg = pkg if isinstance(pkg, str) else ""  # old test2json runs on one binary omit it
        test = event.get("Test")
        if not isinstance(test, str) or not test:
            if action == "output":
                self.package(pkg, event).add(str(event.get("Output") or ""))
            elif action in ("pass", "fail", "skip"):
                yield from self.end_package(pkg, event, action)
            else:
                self.package(pkg, event)
            return
        key = (pkg, test)
        run = self.running.get(key)
        if action == "run" or run is None:
            if action == "run" and run is not None:  # a second "run": the first never ended
                yield from self.row(pkg, test, "error", self.running.pop(key), None)
            run = self.running[key] = _Run(self.time(event), self.limits.trace)
        if action == "output":
            run.add(str(event.get("Output") or ""))
        elif action in _END:
            del self.running[key]
            status = _END[action]
            elapsed = number(event.get("Elapsed"))
            if run.started is None:
                end = self.time(event)
                run.started = end - timedelta(seconds=elapsed) if end and elapsed else end
            if status == "failed":
                self.package(pkg, event).failed = True
            yield from self.row(pkg, test, status, run, elapsed)

    def finish(self) -> Iterator[CaseResult]:
        for (pkg, test), run in list(self.running.items()):
            note = "the test did not finish before the end of the file"
            yield from self.row(pkg, test, "error", run, None, note)
        self.running.clear()
        yield from self.attempts.finish()


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield go test case results as events arrive; raise ParseError on a bad file."""
    state = _State(ctx)
    stream = EventLines(chunks, "Action", "go test -json", "go test")
    for event in stream:
        yield from state.handle(event)
    yield from state.finish()
    yield from stream.note()
