"""Robot Framework ``output.xml`` (Robot 2.5 to 7, both schemas), streamed like JUnit.

Choices: the suite is the nested ``<suite name>`` path joined with " / "; the
classname is the suite's dotted longname (``Top.Sub``), which is what Robot's own
``--xunit`` file writes, so both files of one run name a test alike. Status,
message, start and duration come from the test's own ``<status>``: Robot already
marks tests failed by a suite setup. Old schema times (``starttime``/``endtime``,
``20240101 12:00:00.000``) and Robot 7's (``start`` ISO 8601 + ``elapsed`` seconds)
are both local: they are read in ``ctx.default_tz``. Keywords are not tests: for a
failed test the chain of failing keywords becomes the trace. ``<statistics>`` and
``<errors>`` are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from testdash_engine.detect import DTD_REFUSED
from testdash_engine.formats.robot_values import STATUSES, Body, teardown_failed, timing
from testdash_engine.formats.xmlstream import stream
from testdash_engine.model import CaseResult, Detection, ParseContext, ParseError, ParseIssue
from testdash_engine.textcap import CappedText, cap_str

# Elements that run inside a test (Robot 2 to 7): each has its own <status>.
_BODY = frozenset({
    "kw", "for", "iter", "if", "branch", "try", "while", "group", "variable",
    "return", "continue", "break", "error",
})  # fmt: skip


# Results held back for a suite teardown failure to amend; beyond this, oldest go out as read.
MAX_HELD = 10_000


class _Suite:
    """An open ``<suite>``: its identity and what its teardown said."""

    __slots__ = ("depth", "path", "longname", "cut", "start", "teardown_depth", "teardown")

    def __init__(self, depth: int, path: str, longname: str, cut: int, start: int) -> None:
        self.depth = depth
        self.path = path
        self.longname = longname
        self.cut = cut
        self.start = start  # index (counting emitted results) of its first test
        self.teardown_depth = -1
        self.teardown: tuple[str, CappedText] | None = None


class _Target:
    """lxml parser target: builds test results from events, appends them to ``out``."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.limits = ctx.limits
        self.out: list[CaseResult | ParseIssue] = []
        self.tags: list[str] = []
        self.suites: list[_Suite] = [_Suite(0, "", "", 0, 0)]
        # Robot writes a test's status before its suite's teardown runs; a failing teardown
        # fails the suite's tests when Robot reads the file back, so results wait for it.
        self.held: list[CaseResult] = []
        self.emitted = 0
        self.test: Any = None
        self.test_depth = -1
        self.status: Any = None
        self.message = CappedText(ctx.limits.message)
        self.body = Body(ctx.limits)
        self.cap: CappedText | None = None
        self.cap_depth = -1

    def doctype(self, *_args: Any) -> None:
        """Refuse any DOCTYPE: no DTD, no entity declarations."""
        raise ParseError(DTD_REFUSED, kind="hostile")

    def start(self, tag: str, attrib: Any) -> None:
        """Handle a start tag."""
        tags = self.tags
        parent = tags[-1] if tags else ""
        tags.append(tag)
        depth = len(tags)
        if depth > self.limits.max_depth:
            raise ParseError(f"elements nested deeper than {self.limits.max_depth}", kind="hostile")
        if self.test_depth < 0:
            self._start_outside_test(tag, attrib, parent, depth)
        elif tag in _BODY:
            self.body.open(tag, attrib)
        elif tag == "status":
            if depth == self.test_depth + 1:
                self.status = dict(attrib)
                self._capture(self.message, depth)
            elif parent in _BODY:
                capped = self.body.status(attrib)
                if capped is not None:
                    self._capture(capped, depth)
        elif tag == "msg" and parent in _BODY and attrib.get("level") == "FAIL":
            capped = self.body.fail_message()
            if capped is not None:
                self._capture(capped, depth)

    def _start_outside_test(self, tag: str, attrib: Any, parent: str, depth: int) -> None:
        suite = self.suites[-1]
        if tag == "suite" and parent in ("robot", "suite"):
            self._push_suite(depth, attrib)
        elif tag == "kw" and parent == "suite" and depth == suite.depth + 1:
            if (attrib.get("type") or "").lower() == "teardown":
                suite.teardown_depth = depth
        elif tag == "status" and depth == suite.teardown_depth + 1 and parent == "kw":
            if attrib.get("status") in ("FAIL", "SKIP"):
                suite.teardown = (attrib.get("status"), CappedText(self.limits.message))
                self._capture(suite.teardown[1], depth)
        elif tag == "test" and parent == "suite":
            self.test = dict(attrib)
            self.test_depth = depth
            self.status = None
            self.message = CappedText(self.limits.message)
            self.body = Body(self.limits)

    def _capture(self, capped: CappedText, depth: int) -> None:
        self.cap = capped
        self.cap_depth = depth

    def _push_suite(self, depth: int, attrib: Any) -> None:
        top = self.suites[-1]
        path, longname = top.path, top.longname
        name, more = cap_str(attrib.get("name") or "", self.limits.name)
        self.suites.append(_Suite(
            depth,
            f"{path} / {name}" if path and name else (name or path),
            f"{longname}.{name}" if longname and name else (name or longname),
            top.cut + 2 * more,
            self.emitted + len(self.held),
        ))  # fmt: skip

    def _pop_suite(self) -> None:
        suite = self.suites.pop()
        if suite.teardown is not None:
            status, capped = suite.teardown
            if suite.start < self.emitted:
                late = self.emitted - suite.start
                self.out.append(ParseIssue(f"suite teardown failure not applied to {late} tests"))
            start = max(suite.start - self.emitted, 0)
            text = capped.result()[0]
            limits = self.limits
            self.held[start:] = [
                teardown_failed(r, status, text, limits) for r in self.held[start:]
            ]
        if len(self.suites) == 1 or len(self.held) > MAX_HELD:
            self.out.extend(self.held)
            self.emitted += len(self.held)
            self.held.clear()

    def end(self, tag: str) -> None:
        """Handle an end tag."""
        depth = len(self.tags)
        self.tags.pop()
        if depth == self.cap_depth:
            self.cap = None
            self.cap_depth = -1
        if depth == self.test_depth:
            self._finish_test()
            self.test = None
            self.test_depth = -1
        elif self.test_depth > 0 and tag in _BODY:
            self.body.close()
        elif depth == self.suites[-1].depth:
            self._pop_suite()

    def _finish_test(self) -> None:
        top = self.suites[-1]
        suite, longname, cut = top.path, top.longname, top.cut
        limits = self.limits
        classname, class_cut = cap_str(longname, limits.name)
        name, name_cut = cap_str(self.test.get("name") or "", limits.name)
        attrib = self.status or {}
        raw = attrib.get("status") or ""
        status = STATUSES.get(raw.upper())
        if status is None:
            status = "skipped"
            self.out.append(ParseIssue(f"test {name!r}: unknown status {raw[:40]!r} as skipped"))
        message, message_cut = self.message.result()
        trace = None
        trace_cut = 0
        if status == "failed":
            trace, trace_cut = self.body.trace()
        duration, started_at = timing(attrib, self.ctx.default_tz)
        self.held.append(CaseResult(
            suite, classname, name, status, 1, True, False, duration,
            message.strip() and message or None, None, trace, None, None,
            cut + class_cut + name_cut + message_cut + trace_cut, started_at,
        ))  # fmt: skip

    def data(self, text: str) -> None:
        """Collect character data of the element being captured."""
        if self.cap is not None and len(self.tags) == self.cap_depth:
            self.cap.add(text)

    def close(self) -> None:
        """End of document: tests outside any suite (not written by Robot) still count."""
        self.out.extend(self.held)
        self.held.clear()


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield Robot test results as the chunks are read; raise ParseError on a bad file."""
    yield from stream(_Target(ctx), chunks)
