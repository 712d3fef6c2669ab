"""TAP versions 12, 13 and 14 (tap.py, node-tap, Perl Test::More/Test2), streamed by line.

Every test point is a result at its own level: ``suite`` is the subtest path joined with
" / " ("" at the top); a subtest's closing point is a result of the enclosing level (TAP
counts it in that plan; it has its own status, time and diagnostics). ``Bail out!`` stops
the parse; an unmet or missing plan, broken YAML and a subtest without its closing point
are ParseIssues; no plan and no test point is a rejection. docs/formats.md ("TAP") has the rest.
"""

from __future__ import annotations

from collections.abc import Iterator

from testdash_engine.formats.tap_results import PLACEHOLDER, Frame, Results, Test
from testdash_engine.formats.tap_syntax import (
    BAIL,
    HEADING,
    MAX_LINE,
    LineReader,
    Point,
    parse_plan,
    parse_point,
)
from testdash_engine.formats.tap_yaml import YamlBlock
from testdash_engine.model import CaseResult, Detection, ParseContext, ParseError, ParseIssue

ISSUE_CAP = 100


class _Tap:
    """Line-by-line state: the stack of open subtests and the results ready to yield."""

    def __init__(self, ctx: ParseContext) -> None:
        self.limits = ctx.limits
        self.root = Frame(None, 0, 0)
        self.stack = [self.root]
        self.out: list[CaseResult | ParseIssue] = []
        self.results = Results(self.limits, self.out, self.issue)
        self.yaml: YamlBlock | None = None
        self.yaml_test: Test | None = None
        self.line = 0
        self.points = self.plans = self.issues = 0
        self.bailed = False

    def issue(self, message: str, line: int | None = None) -> None:
        """Add a ParseIssue; past ISSUE_CAP they are only counted."""
        self.issues += 1
        if self.issues <= ISSUE_CAP:
            self.out.append(ParseIssue(message, line))

    def feed(self, line: str) -> None:
        """Handle one line."""
        if self.yaml is not None and self._yaml_line(line):
            return
        content = line.strip()
        if not content:
            return
        indent = len(line) - len(line.lstrip(" \t"))
        first = content[0]
        if first == "#":
            self._hash_line(indent, content)
            return
        point = parse_point(content) if first in "on" else None
        if point is not None:
            self._point(indent, point)
            return
        plan = parse_plan(content) if first.isdigit() else None
        if plan is not None:
            self._plan(indent, *plan)
        elif content == "}":
            self._close_block(indent)
        elif content == "{":
            self._open_block(indent)
        elif content == "---":
            top = self.stack[-1]
            if top.last is not None and top.last.diag is None and indent > (top.indent or 0):
                self.yaml = YamlBlock(indent, self.line, self.limits.trace)
                self.yaml_test = top.last
        elif first in "Bb" and (bail := BAIL.match(content)) is not None:
            self._bail(bail.group(1).strip())
        # Anything else (version, pragma, program output) is ignored, as TAP says.

    def _yaml_line(self, line: str) -> bool:
        """Add a line to the open YAML block; False when the line ends it without '...'."""
        assert self.yaml is not None
        taken = self.yaml.take(line)
        if taken is not True:
            self._end_yaml(closed=taken is None)
        return taken is not False

    def _hash_line(self, indent: int, content: str) -> None:
        heading = HEADING.match(content)
        if heading is not None:
            self._heading(indent, heading.group(1))
        elif self.stack[-1].last is not None:
            text = content[2:] if content[1:2] == " " else content[1:]
            self.stack[-1].last.note(text, max(self.limits.output, self.limits.trace))

    def _end_yaml(self, closed: bool) -> None:
        block, test = self.yaml, self.yaml_test
        self.yaml = self.yaml_test = None
        if block is None or test is None:
            return
        test.diag = block.result(closed)
        if test.diag.problem:
            self.issue(f"test point {test.name!r}: {test.diag.problem}", block.line)

    def _structure(self, indent: int, is_point: bool) -> tuple[Frame, Frame | None] | None:
        """Close and open subtests for a line at INDENT: its frame and a subtest it may close."""
        stack = self.stack
        awaiting: Frame | None = None
        while len(stack) > 1:
            top = stack[-1]
            if top.buffered:
                if top.indent is None and indent > top.base:
                    top.indent = indent
                if top.indent is not None and indent >= top.indent:
                    break
                if not is_point or indent > top.base:
                    return None  # a stray line inside a { } block
                self._pop()
                self.issue(f"'{{' after test point {top.name!r} opened no subtest", top.line)
                self._emit(top.parent, top.opener)
                self._orphan(awaiting)
                awaiting = None
                continue
            assert top.indent is not None
            if indent >= top.indent:
                break
            self._orphan(awaiting)
            awaiting = self._pop()
        top = stack[-1]
        if top.indent is not None and indent > top.indent:
            top = self._push(Frame(top, indent, self.line), top.heading)
        return top, awaiting

    def _push(self, frame: Frame, name: str | None) -> Frame:
        parent = frame.parent
        assert parent is not None
        self._finish(parent)
        if name is not None:
            frame.rename(name, self.limits.name)
            parent.heading = None
        self.stack.append(frame)
        if len(self.stack) > self.limits.max_depth:
            raise ParseError(f"subtests nested deeper than {self.limits.max_depth}",
                             kind="hostile", line=self.line)  # fmt: skip
        return frame

    def _pop(self) -> Frame:
        frame = self.stack.pop()
        self._finish(frame)
        self._check_plan(frame)
        return frame

    def _orphan(self, frame: Frame | None) -> None:
        """A streamed subtest ended with no closing test point of its own."""
        if frame is None:
            return
        if frame.name is None:
            frame.name = PLACEHOLDER
        where = frame.path()
        self.issue(f"subtest {where[0] if where else PLACEHOLDER!r} has no closing test point",
                   frame.line)  # fmt: skip
        self._flush()

    def _heading(self, indent: int, name: str | None) -> None:
        top = self.stack[-1]
        if top.buffered and top.indent is None and indent > top.base:
            top.indent = indent
        if top.indent is None or indent < top.indent or not name:
            return
        if indent == top.indent:
            top.heading = name
            return
        inherited = top.heading  # old node-tap: the heading is at the parent's indent
        child = self._push(Frame(top, indent, self.line), inherited or name)
        if inherited:
            child.heading = name

    def _point(self, indent: int, point: Point) -> None:
        placed = self._structure(indent, True)
        if placed is None:
            return
        frame, awaiting = placed
        self._finish(frame)
        self.points += 1
        frame.count += 1
        frame.heading = None
        test = Test(point, self.line, frame.count)
        if awaiting is not None:
            awaiting.parent = frame
            if awaiting.name is None:
                awaiting.rename(test.name, self.limits.name)
                self._flush()
            elif point.description == f"Subtest: {awaiting.name}":
                test.label = awaiting.name  # Test2 streamed: "ok 4 - Subtest: name"
        if point.opens_block:
            block = Frame(frame, None, self.line, opener=test, base=indent)
            self._push(block, test.name)
        else:
            frame.last = test

    def _plan(self, indent: int, start: int, end: int, comment: str | None) -> None:
        placed = self._structure(indent, False)
        if placed is None:
            return
        frame, awaiting = placed
        self._orphan(awaiting)
        where = frame.where()
        if frame.plan is not None or end < start - 1:
            self.issue(f"{where}: plan {start}..{end} ignored", self.line)
            return
        frame.plan = (start, end)
        self.plans += 1
        if end < start:
            self.issue(f"{where}: all tests skipped" + (f": {comment}" if comment else ""),
                       self.line)  # fmt: skip

    def _check_plan(self, frame: Frame) -> None:
        problem = frame.plan_problem()
        if problem:
            self.issue(problem)

    def _open_block(self, indent: int) -> None:
        top = self.stack[-1]
        test = top.last
        if test is None or indent != top.indent:
            return
        top.last = None
        self._push(Frame(top, None, self.line, opener=test, base=indent), test.name)

    def _close_block(self, indent: int) -> None:
        stack = self.stack
        for depth in range(len(stack) - 1, 0, -1):
            if stack[depth].buffered and stack[depth].base == indent:
                break
        else:
            return
        while len(stack) > depth + 1:
            self._orphan(self._pop())
        block = self._pop()
        assert block.parent is not None and block.opener is not None
        block.parent.last = block.opener

    def _finish(self, frame: Frame) -> None:
        """Emit the frame's pending test point: nothing more can belong to it."""
        test = frame.last
        if test is not None:
            if self.yaml_test is test:
                self._end_yaml(closed=False)
            frame.last = None
            self._emit(frame, test)

    def _emit(self, frame: Frame | None, test: Test | None) -> None:
        if frame is not None and test is not None:
            self.results.add(frame, test)

    def _flush(self) -> None:
        self.results.flush()

    def _bail(self, reason: str) -> None:
        self.bailed = True
        line = self.line
        self.close()
        ran = ""
        if self.root.plan is not None:
            planned = max(self.root.plan[1] - self.root.plan[0] + 1, 0)
            ran = f" ({self.root.count} of {planned} planned tests ran)"
        self.issue("Bail out!" + (f" {reason}" if reason else "") + ran, line)

    def close(self) -> None:
        """End of input (or Bail out!): finish every open subtest."""
        self._end_yaml(closed=False)
        while len(self.stack) > 1:
            frame = self._pop()
            if frame.buffered:
                self.issue(f"no '}}' closes the subtest of {frame.name!r}", frame.line)
                self._emit(frame.parent, frame.opener)
            else:
                self._orphan(frame)
        self._finish(self.root)
        if not self.bailed:
            self._check_plan(self.root)
        self._flush()


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield TAP results as the lines are read; raise ParseError for a file with no TAP."""
    state = _Tap(ctx)
    out = state.out
    reader = LineReader(chunks)
    for line in reader:
        state.line = reader.lineno
        state.feed(line)
        if out:
            yield from out
            out.clear()
        if state.bailed:
            break
    else:
        state.close()
    if reader.long_lines:
        state.issue(f"{reader.long_lines} lines longer than {MAX_LINE} bytes were cut")
    if reader.bad_lines:
        state.issue(f"{reader.bad_lines} lines had invalid UTF-8 (replaced with U+FFFD)",
                    reader.first_bad)  # fmt: skip
    if state.issues > ISSUE_CAP:
        out.append(ParseIssue(f"{state.issues - ISSUE_CAP} more issues not shown"))
    if not state.points and not state.plans:
        reason = "no TAP plan or test point"
        raise ParseError(reason + (" before Bail out!" if state.bailed else ""), kind="empty")
    yield from out
