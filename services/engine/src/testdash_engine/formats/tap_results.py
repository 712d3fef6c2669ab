"""TAP test points into case results: status mapping, message/trace sources, names."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from testdash_engine.formats.tap_syntax import Point
from testdash_engine.formats.tap_yaml import Diagnostics
from testdash_engine.model import CaseResult, Limits, ParseIssue, Status
from testdash_engine.textcap import CappedText, cap_str

PLACEHOLDER = "(unnamed subtest)"
HELD_CAP = 16 * 1024 * 1024
SEEN_CAP = 1_000_000


class Frame:
    """One nesting level: the file itself or a subtest (streamed or ``{ }`` buffered)."""

    __slots__ = (
        "base", "buffered", "count", "cut", "heading", "indent", "last", "line", "name",
        "opener", "parent", "plan",
    )  # fmt: skip

    def __init__(
        self,
        parent: Frame | None,
        indent: int | None,
        line: int,
        opener: Test | None = None,
        base: int = -1,
    ) -> None:
        self.parent = parent
        self.indent = indent  # indent of the lines inside; None until a buffered block shows it
        self.base = base  # indent of a buffered block's opening test point
        self.name: str | None = None
        self.cut = 0
        self.line = line
        self.opener = opener
        self.buffered = opener is not None
        self.plan: tuple[int, int] | None = None
        self.count = 0
        self.heading: str | None = None  # "# Subtest: x" seen here, naming the next child
        self.last: Test | None = None  # test point still collecting YAML and comments

    def rename(self, name: str, cap: int) -> None:
        """Name the subtest (capped)."""
        self.name, self.cut = cap_str(name, cap)

    def path(self) -> tuple[str, int] | None:
        """The suite path (names joined with " / ") and cut count, or None while unnamed."""
        names: list[str] = []
        cut = 0
        frame: Frame | None = self
        while frame is not None and frame.parent is not None:
            if frame.name is None:
                return None
            names.append(frame.name)
            cut += frame.cut
            frame = frame.parent
        return " / ".join(reversed(names)), cut

    def where(self) -> str:
        """The file or the subtest, in words for a ParseIssue."""
        if self.parent is None:
            return "the file"
        path = self.path()
        return f"subtest {path[0] if path else PLACEHOLDER!r}"

    def plan_problem(self) -> str | None:
        """How the count of test points differs from the plan, if it does."""
        if self.plan is None:
            return (
                "no plan: the run may have stopped early"
                if self.parent is None and self.count
                else None
            )
        planned = max(self.plan[1] - self.plan[0] + 1, 0)
        if self.count != planned:
            return f"{self.where()}: planned {planned} tests, {self.count} ran"
        return None


class Test:
    """A test point with what follows it: YAML diagnostics and comment lines."""

    __slots__ = ("diag", "label", "line", "notes", "ordinal", "point")

    def __init__(self, point: Point, line: int, ordinal: int) -> None:
        self.point = point
        self.line = line
        self.ordinal = ordinal
        self.diag: Diagnostics | None = None
        self.notes: CappedText | None = None
        self.label: str | None = None  # a name other than the description

    @property
    def name(self) -> str:
        """The description, or ``test N`` when there is none."""
        point = self.point
        return (
            self.label
            or point.description
            or f"test {self.ordinal if point.number is None else point.number}"
        )

    def note(self, text: str, cap: int) -> None:
        """Keep a comment line that followed the test point."""
        if self.notes is None:
            self.notes = CappedText(cap)
        self.notes.add(text + "\n")


def headline(text: str) -> str | None:
    """A failure message from comment diagnostics: a traceback's last line, else the first."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def status_of(point: Point) -> Status:
    """Ok: passed, not ok: failed, SKIP: skipped; TODO: not ok is skipped, ok passed."""
    if point.directive == "SKIP":
        return "skipped"
    if point.directive == "TODO":
        return "passed" if point.ok else "skipped"
    return "passed" if point.ok else "failed"


def make_result(test: Test, limits: Limits) -> CaseResult:
    """The result of a test point, with an empty suite (set once the path is known)."""
    point = test.point
    status = status_of(point)
    name, cut = cap_str(test.name, limits.name)
    message = point.reason or None
    trace = stdout = None
    duration = point.duration
    diag = test.diag
    if diag is not None:
        message = message or diag.message
        trace = diag.trace
        duration = diag.duration if diag.duration is not None else duration
    if test.notes is not None:
        notes, cut_notes = test.notes.result()
        cut += cut_notes
        notes = notes.rstrip("\n")
        # Perl's Test::More and tap.py write a failure's diagnostics as comments after it.
        if not point.ok and point.directive != "SKIP" and trace is None:
            trace = notes
            message = message or headline(notes)
        else:
            stdout = notes
    cuts = 0
    if message is not None:
        message, cuts = cap_str(message, limits.message)
        cut += cuts
    if trace is not None:
        trace, cuts = cap_str(trace, limits.trace)
        cut += cuts
    if stdout is not None:
        stdout, cuts = cap_str(stdout, limits.output)
        cut += cuts
    return CaseResult(
        suite="", classname="", name=name, status=status, duration=duration, message=message,
        type=point.directive, trace=trace, stdout=stdout or None, truncated=cut,
    )  # fmt: skip


def result_size(result: CaseResult) -> int:
    """Rough memory held by a result, for the cap on results waiting for a subtest name."""
    return 200 + sum(
        len(text) for text in (result.name, result.message, result.trace, result.stdout) if text
    )


class Results:
    """Results in stream order; those of a subtest not yet named wait (up to HELD_CAP)."""

    def __init__(
        self, limits: Limits, out: list[CaseResult | ParseIssue], issue: Callable[[str], None]
    ) -> None:
        self.limits = limits
        self.out = out
        self.issue = issue
        self.held: deque[tuple[Frame, CaseResult, int]] = deque()
        self.held_size = 0
        self.seen: set[int] = set()

    def add(self, frame: Frame, test: Test) -> None:
        """Emit the result of a finished test point (or hold it until its suite is named)."""
        result = make_result(test, self.limits)
        if self.held or frame.path() is None:
            self.held.append((frame, result, test.ordinal))
            self.held_size += result_size(result)
            if self.held_size > HELD_CAP:
                self.issue(f"over {HELD_CAP} bytes of results wait for a subtest name: "
                           f"named {PLACEHOLDER!r}")  # fmt: skip
                for waiting, _, _ in self.held:
                    while waiting.parent is not None:
                        waiting.name = waiting.name or PLACEHOLDER
                        waiting = waiting.parent
                self.flush()
        else:
            self._place(frame, result, test.ordinal)

    def _place(self, frame: Frame, result: CaseResult, ordinal: int) -> None:
        found = frame.path()
        assert found is not None
        suite, cut = found
        # Hashes, not names, and at most SEEN_CAP of them: memory stays bounded.
        key = hash((suite, result.name))
        if key in self.seen:
            result = result._replace(name=f"{result.name} [#{ordinal}]")
        elif len(self.seen) < SEEN_CAP:
            self.seen.add(key)
        self.out.append(result._replace(suite=suite, truncated=result.truncated + cut))

    def flush(self) -> None:
        """Emit the held results whose suite is now named, in order."""
        held = self.held
        while held:
            frame, result, ordinal = held[0]
            if frame.path() is None:
                return
            held.popleft()
            self.held_size -= result_size(result)
            self._place(frame, result, ordinal)
