"""Allure 1 results: the ``<ns2:test-suite>`` XML (streamed) and its JSON twin (dialect "json").

Choices: the suite is the test-suite's ``name`` (the display ``title`` is not an
identity); the classname is the ``testClass`` label or empty; the name is the
test-case ``name``. Message and trace come from ``<failure><message>`` and
``<stack-trace>`` (JSON: ``failure.message``/``stackTrace``). Times are epoch ms.
Statuses follow :data:`allure_common.STATUSES`; steps and attachments are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from testdash_engine.detect import DTD_REFUSED
from testdash_engine.formats.allure_common import status_of, timing
from testdash_engine.formats.jsonstream import JsonEvents, string
from testdash_engine.formats.xmlstream import stream
from testdash_engine.model import (
    CaseResult,
    Detection,
    Limits,
    ParseContext,
    ParseError,
    ParseIssue,
)
from testdash_engine.textcap import CappedText, cap_str


class _Case:
    """A test-case being read."""

    __slots__ = ("attrib", "name", "message", "trace", "classname", "in_failure")

    def __init__(self, attrib: Any, limits: Limits) -> None:
        self.attrib = dict(attrib)
        self.name = CappedText(limits.name)
        self.message = CappedText(limits.message)
        self.trace = CappedText(limits.trace)
        self.classname = ""
        self.in_failure = False


def _make(
    ident: tuple[str, str, str], raw: dict[str, Any], texts: tuple[Any, Any, int], limits: Limits
) -> tuple[CaseResult, str | None]:
    """Build one CaseResult; ``texts`` is (message, trace, cut so far), capped by the caller."""
    message, trace, cut = texts
    status, note = status_of(raw.get("status"))
    duration, started_at = timing(raw.get("start"), raw.get("stop"))
    suite, suite_cut = cap_str(ident[0], limits.name)
    classname, class_cut = cap_str(ident[1], limits.name)
    name, name_cut = cap_str(ident[2], limits.name)
    return CaseResult(
        suite, classname, name, status, 1, True, False, duration, message or None, None,
        trace or None, None, None, cut + suite_cut + class_cut + name_cut, started_at,
    ), note  # fmt: skip


class _Target:
    """lxml parser target for ``<ns2:test-suite>``; appends results to ``out``."""

    def __init__(self, ctx: ParseContext) -> None:
        self.limits = ctx.limits
        self.out: list[CaseResult | ParseIssue] = []
        self.depth = 0
        self.suite: str | None = None
        self.suite_name = CappedText(ctx.limits.name)
        self.pending: list[_Case] = []
        self.case: _Case | None = None
        self.case_depth = -1
        self.cap: CappedText | None = None
        self.cap_depth = -1

    def doctype(self, *_args: Any) -> None:
        """Refuse any DOCTYPE: no DTD, no entity declarations."""
        raise ParseError(DTD_REFUSED, kind="hostile")

    def start(self, tag: str, attrib: Any) -> None:
        """Handle a start tag."""
        self.depth = depth = self.depth + 1
        if depth > self.limits.max_depth:
            raise ParseError(f"elements nested deeper than {self.limits.max_depth}", kind="hostile")
        local = tag.rpartition("}")[2]
        case = self.case
        if case is None:
            if local == "test-case":
                self.case = _Case(attrib, self.limits)
                self.case_depth = depth
            elif local == "name" and depth == 2:
                self._capture(self.suite_name, depth)
        elif depth == self.case_depth + 1:
            if local == "name":
                self._capture(case.name, depth)
            case.in_failure = local == "failure"
        elif depth == self.case_depth + 2:
            if case.in_failure and local == "message":
                self._capture(case.message, depth)
            elif case.in_failure and local == "stack-trace":
                self._capture(case.trace, depth)
            elif local == "label" and attrib.get("name") == "testClass" and not case.classname:
                case.classname = attrib.get("value") or ""

    def _capture(self, capped: CappedText, depth: int) -> None:
        self.cap = capped
        self.cap_depth = depth

    def end(self, _tag: str) -> None:
        """Handle an end tag."""
        depth = self.depth
        self.depth = depth - 1
        if depth == self.cap_depth:
            self.cap = None
            self.cap_depth = -1
            if depth == 2 and self.case is None:
                self.suite = self.suite_name.result()[0]
                self._flush()
        elif depth == self.case_depth and self.case is not None:
            self.pending.append(self.case)
            self.case = None
            self.case_depth = -1
            if self.suite is not None:
                self._flush()

    def _flush(self) -> None:
        """Emit the cases read so far: the suite name may follow its first test cases."""
        for case in self.pending:
            name, cut = case.name.result()
            message, message_cut = case.message.result()
            trace, trace_cut = case.trace.result()
            texts = (
                message.strip() and message,
                trace.strip() and trace,
                cut + message_cut + trace_cut,
            )
            ident = (self.suite or "", case.classname, name)
            result, note = _make(ident, case.attrib, texts, self.limits)
            if note is not None:
                self.out.append(ParseIssue(note))
            self.out.append(result)
        self.pending.clear()

    def data(self, text: str) -> None:
        """Collect character data of the element being captured."""
        if self.cap is not None and self.depth == self.cap_depth:
            self.cap.add(text)

    def close(self) -> None:
        """End of document: a suite without a name still has its test cases."""
        self._flush()


def _json_case(item: Any, suite: str, limits: Limits) -> tuple[CaseResult, str | None]:
    if item.__class__ is not dict:
        raise ParseError("an Allure 1 test case must be a JSON object")
    failure = item.get("failure")
    message = trace = None
    if failure.__class__ is dict:
        message = string(failure.get("message"))
        trace = string(failure.get("stackTrace"))
    classname = ""
    labels = item.get("labels")
    for label in labels if labels.__class__ is list else ():
        if label.__class__ is dict and label.get("name") == "testClass":
            classname = str(label.get("value") or "")
            break
    cut = 0
    if message:
        message, cut = cap_str(message, limits.message)
    if trace:
        trace, more = cap_str(trace, limits.trace)
        cut += more
    ident = (suite, classname, string(item.get("name")) or "")
    return _make(ident, item, (message, trace, cut), limits)


def _parse_json(events: JsonEvents, ctx: ParseContext) -> Iterator[CaseResult | ParseIssue]:
    """Stream ``testCases`` one by one; held until the suite's ``name`` has been read."""
    if events.next()[0] != "start_map":
        raise ParseError("an Allure 1 JSON test suite must be a JSON object")
    suite: str | None = None
    held: list[Any] = []
    while True:
        event, key = events.next()
        if event == "end_map":
            break
        event, value = events.next()
        if key == "name":
            suite = string(events.value(event, value)) or ""
        elif key == "testCases" and event == "start_array":
            while (item := events.next())[0] != "end_array":
                held.append(events.value(*item, skip=frozenset({"steps", "attachments"})))
                if suite is not None:
                    yield from _emit(held, suite, ctx.limits)
        else:
            events.skip(event, value)
    events.end()
    yield from _emit(held, suite or "", ctx.limits)


def _emit(held: list[Any], suite: str, limits: Limits) -> Iterator[CaseResult | ParseIssue]:
    for item in held:
        result, note = _json_case(item, suite, limits)
        if note is not None:
            yield ParseIssue(note)
        yield result
    held.clear()


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield Allure 1 test cases as they are read; raise ParseError on a bad file."""
    if detection.dialect == "json":
        yield from _parse_json(JsonEvents(chunks, ctx.limits), ctx)
        return
    yield from stream(_Target(ctx), chunks)
