"""JUnit XML in its common dialects, streamed through an lxml target parser.

One parser covers pytest (xunit1/xunit2), Maven Surefire/Failsafe (with
``flakyFailure``/``rerunFailure`` attempts), Gradle, Ant, jest-junit,
mocha-junit-reporter, go-junit-report/gotestsum, CTest/GoogleTest status
attributes, PHPUnit nested suites (joined with " / ") and Eclipse ``<testrun>``.
The target sees only start/end events and character data; text is capped as it
arrives.

Choices: ``started_at`` is the testcase's ``timestamp`` or else the innermost
suite's; with retries the testcase ``time`` goes on the final attempt only;
``system-out``/``system-err`` outside a testcase are ignored; an element that
only a testcase may hold (``<skipped/>``, ``<failure>``) outside one is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from testdash_engine.detect import DTD_REFUSED
from testdash_engine.formats import junit_case
from testdash_engine.formats.junit_case import Case, Outcome, new_result
from testdash_engine.formats.junit_values import TIMES, parse_timestamp, remember_time
from testdash_engine.formats.xmlstream import Pool
from testdash_engine.model import (
    CaseResult,
    Detection,
    ParseContext,
    ParseError,
    ParseIssue,
    Status,
)
from testdash_engine.textcap import CappedText, cap_str

_RESULTS: dict[str, tuple[Status, bool | None]] = {
    "failure": ("failed", None),
    "error": ("error", None),
    "skipped": ("skipped", None),
    "rerunFailure": ("failed", True),
    "rerunError": ("error", True),
    "flakyFailure": ("failed", False),
    "flakyError": ("error", False),
}


class _Target:
    """lxml parser target: builds cases from events, appends results to ``out``."""

    def __init__(self, ctx: ParseContext) -> None:
        self.out: list[CaseResult | ParseIssue] = []
        # Character data goes straight into a list: one C call per piece, no Python frame
        # for the whitespace between elements. start/end move the pieces of a captured
        # element to its CappedText (from ``mark`` on); ``fed`` drops the rest after each
        # chunk, so the list never holds more than one chunk's text. lxml keeps the bound
        # ``append`` for as long as it keeps the parser: ``reset`` clears, never replaces.
        self.pieces: list[str] = []
        self.data = self.pieces.append
        self.reset(ctx)

    def reset(self, ctx: ParseContext) -> None:
        """Start a new document: everything as new but ``out``, ``pieces`` and ``data``."""
        self.ctx = ctx
        self.limits = ctx.limits
        self.max_depth = ctx.limits.max_depth
        self.out.clear()
        self.pieces.clear()
        self.mark = 0
        self.depth = 0
        # Stack of (depth, joined suite path, cut count, suite timestamp).
        self.suites: list[tuple[int, str, int, datetime | None]] = [(0, "", 0, None)]
        self.case: Case | None = None
        self.case_attrib: Any = None
        self.case_depth = -1
        # Testcases read but not yet turned into results, in document order: the attributes
        # of a childless one (most cases), the Case of one with children. ``_flush`` makes
        # their results in one loop per chunk (or suite), faster than a few lines per end tag.
        self.ended: list[Any] = []
        self.outcome: Outcome | None = None
        self.outcome_depth = -1
        self.cap: CappedText | None = None
        self.cap_depth = -1
        self.stamps: dict[str, datetime | None] = {}

    def doctype(self, *_args: Any) -> None:
        """Refuse any DOCTYPE: no DTD, no entity declarations."""
        raise ParseError(DTD_REFUSED, kind="hostile")

    def start(self, tag: str, attrib: Any) -> None:
        """Handle a start tag."""
        self.depth = depth = self.depth + 1
        if depth > self.max_depth:
            raise ParseError(f"elements nested deeper than {self.max_depth}", kind="hostile")
        if self.case_depth < 0:
            if tag == "testcase":
                # The Case record is made only if a child appears: most cases are <testcase/>.
                self.case_attrib = attrib
                self.case_depth = depth
            elif tag == "testsuite":
                self._push_suite(depth, attrib)
            elif tag[0] == "{":
                self.depth -= 1
                self.start(tag[tag.index("}") + 1 :], attrib)
        elif self.cap is None:
            self._start_in_case(tag, attrib, depth)
        elif depth == self.cap_depth + 1:
            # Markup within captured text (Eclipse <expected>) is skipped, its text left out.
            self._take_text()

    def _start_in_case(self, tag: str, attrib: Any, depth: int) -> None:
        if tag[0] == "{":
            tag = tag[tag.index("}") + 1 :]
        case = self.case
        if case is None:
            case = self.case = self._new_case(self.case_attrib)
        # The captures are set here, not in a helper: a call costs as much as its lines.
        if tag == "system-out" or tag == "system-err":
            self.cap = self._output(tag)
        else:
            known = _RESULTS.get(tag)
            if known is not None and self.outcome is None:
                outcome = Outcome(known[0], attrib, self.limits, known[1])
                case.outcomes.append(outcome)
                self.outcome = outcome
                self.outcome_depth = depth
                if known[1] is not None:
                    return
                self.cap = outcome.trace  # failure text is the trace
            elif tag == "stackTrace" and self.outcome is not None:
                self.cap = self.outcome.trace
            else:
                return
        self.cap_depth = depth
        self.mark = len(self.pieces)

    def _new_case(self, attrib: Any) -> Case:
        _, path, cut, started = self.suites[-1]
        stamp = attrib.get("timestamp")
        if stamp:
            try:
                started = self.stamps[stamp] or started
            except KeyError:
                started = self._timestamp(stamp) or started
        return Case(path, cut, attrib, started)

    def _timestamp(self, stamp: str) -> datetime | None:
        """Parse a timestamp once per file: producers repeat the same one on many cases."""
        try:
            return self.stamps[stamp]
        except KeyError:
            if len(self.stamps) > 4096:
                self.stamps.clear()
            parsed = self.stamps[stamp] = parse_timestamp(stamp, self.ctx.default_tz)
            return parsed

    def _output(self, tag: str) -> CappedText:
        """The ``system-out``/``system-err`` of the current attempt, made on first use."""
        holder: Any = self.outcome if self.outcome is not None else self.case
        name = "stdout" if tag == "system-out" else "stderr"
        capped: CappedText | None = getattr(holder, name)
        if capped is None:
            capped = CappedText(self.limits.output)
            setattr(holder, name, capped)
        return capped

    def _take_text(self) -> None:
        """Add the text pieces since ``mark`` to the element being captured."""
        pieces = self.pieces
        mark, count = self.mark, len(pieces)
        if count > mark and self.cap is not None:
            self.cap.add(pieces[mark] if count == mark + 1 else "".join(pieces[mark:]))
        self.mark = count

    def _push_suite(self, depth: int, attrib: Any) -> None:
        self._flush()
        _, parent, parent_cut, parent_started = self.suites[-1]
        name, cut = cap_str(attrib.get("name") or "", self.limits.name)
        path = f"{parent} / {name}" if parent and name else (name or parent)
        stamp = attrib.get("timestamp")
        started = parse_timestamp(stamp, self.ctx.default_tz) if stamp else None
        self.suites.append((depth, path, parent_cut + cut, started or parent_started))

    def end(self, _tag: str) -> None:
        """Handle an end tag."""
        depth = self.depth
        self.depth = depth - 1
        if depth == self.case_depth:
            self.case_depth = -1
            if self.case is None:
                self.ended.append(self.case_attrib)
            else:
                self.ended.append(self.case)
                self.case = None
        elif depth == self.cap_depth:
            pieces = self.pieces  # _take_text inlined: once per captured element
            mark = self.mark
            if len(pieces) > mark and self.cap is not None:
                self.cap.add(pieces[mark] if len(pieces) == mark + 1 else "".join(pieces[mark:]))
            self.mark = len(pieces)
            self.cap = None
            self.cap_depth = -1
            if depth == self.outcome_depth:
                self.outcome = None
                self.outcome_depth = -1
        elif depth == self.outcome_depth:
            self.outcome = None
            self.outcome_depth = -1
        elif depth == self.suites[-1][0]:
            self._flush()
            self.suites.pop()
        elif depth == self.cap_depth + 1:  # back in captured text after nested markup
            self.mark = len(self.pieces)

    def fed(self) -> None:
        """After each chunk: make the pending results, keep captured text, drop the rest."""
        self._flush()
        if self.depth == self.cap_depth:
            self._take_text()
        self.pieces.clear()
        self.mark = 0

    def _flush(self) -> None:
        """Append the results of the testcases in ``ended`` to ``out``."""
        ended = self.ended
        if not ended:
            return
        out = self.out
        limits = self.limits
        cap = limits.name
        stamps = self.stamps
        times = TIMES
        _, path, cut, suite_started = self.suites[-1]
        last_stamp, last_started = None, suite_started  # cases mostly repeat one timestamp
        for attrib in ended:
            if attrib.__class__ is Case:
                out.extend(junit_case.results(attrib, limits))
                continue
            name = attrib.get("name", "")
            classname = attrib.get("classname", "")
            if (
                len(name) > cap
                or len(classname) > cap
                or "status" in attrib
                or "result" in attrib
                or "ignored" in attrib
            ):
                out.extend(junit_case.results(self._new_case(attrib), limits))
                continue
            stamp = attrib.get("timestamp")
            if stamp == last_stamp:
                started = last_started
            elif stamp:
                try:
                    started = stamps[stamp] or suite_started
                except KeyError:
                    started = self._timestamp(stamp) or suite_started
                last_stamp, last_started = stamp, started
            else:
                started = suite_started
            time = attrib.get("time")
            duration = times.get(time)
            if duration is None:  # not seen lately, or not a time
                duration = remember_time(time)
            out.append(new_result(CaseResult, (
                path, classname, name, "passed", 1, True, False, duration,
                None, None, None, None, None, cut, started,
            )))  # fmt: skip
        ended.clear()

    def close(self) -> None:
        """End of document."""


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield JUnit case results as the chunks are read; raise ParseError on a bad file."""
    return _POOL.stream(ctx, chunks)


_POOL = Pool(_Target)
