"""Pieces shared by the .NET report parsers (NUnit, xUnit.net, TRX).

Each of those parsers is an lxml target that sees start/end/data events only:
:class:`StreamTarget` refuses DTDs, bounds the depth, strips namespaces and
feeds the text of the one element being captured to a :class:`CappedText`.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from testdash_engine.detect import DTD_REFUSED
from testdash_engine.formats.junit_values import parse_timestamp
from testdash_engine.model import CaseResult, Limits, ParseContext, ParseError, ParseIssue, Status
from testdash_engine.textcap import CappedText, cap_str

# .NET TimeSpan as TRX writes it: [d.]hh:mm:ss[.fffffff].
_TIMESPAN = re.compile(r"^\s*(?:(\d+)\.)?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")
_CAPS = {"message": "message", "trace": "trace", "stdout": "output", "stderr": "output"}
_SCAN_LIMIT = 64 * 1024
_ASSEMBLY = re.compile(r"[^/\\]+\.(?:dll|exe)$", re.IGNORECASE)


def local(tag: str) -> str:
    """Tag name without its ``{namespace}``."""
    return tag[tag.index("}") + 1 :] if tag[:1] == "{" else tag


def assembly_name(name: str) -> str:
    """File name of an assembly path, so a suite's identity does not depend on the agent."""
    if "/" in name or "\\" in name:
        found = _ASSEMBLY.search(name)
        if found:
            return found.group(0)
    return name


def split_full_name(full: str) -> tuple[str, str]:
    """Split ``Ns.Class<T>(args).Method(args)`` at its last dot outside brackets and quotes."""
    depth = 0
    quoted = False
    dot = -1
    if len(full) > _SCAN_LIMIT:  # a huge name is cut later anyway: split it cheaply
        dot = full.split("(", 1)[0].rfind(".")
        return ("", full) if dot <= 0 else (full[:dot], full[dot + 1 :])
    for index, char in enumerate(full):
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "([<":
            depth += 1
        elif char in ")]>":
            depth = max(depth - 1, 0)
        elif char == "." and depth == 0:
            dot = index
    if dot <= 0:
        return "", full
    return full[:dot], full[dot + 1 :]


def short_name(name: str, classname: str) -> str:
    """Drop a leading ``classname.`` from a display name (xUnit and TRX repeat it)."""
    if classname and len(name) > len(classname) + 1 and name.startswith(classname + "."):
        return name[len(classname) + 1 :]
    return name


def parse_timespan(value: str | None) -> float | None:
    """Seconds from a .NET TimeSpan such as ``00:00:01.2345678``; None if not one."""
    if not value:
        return None
    match = _TIMESPAN.match(value)
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def timestamp(value: str | None, default_tz: tzinfo) -> datetime | None:
    """UTC time from an ISO 8601 value; .NET's ``DateTime.MinValue`` (never started) is None."""
    try:
        moment = parse_timestamp(value, default_tz)
    except OverflowError:  # year 1 moved across a time zone
        return None
    return None if moment is None or moment.year <= 1 else moment


def _text(capped: CappedText | None, strip: bool = False) -> tuple[str | None, int]:
    if capped is None or not capped.total:
        return None, 0
    text, cut = capped.result()
    if not text.strip():
        return None, cut
    return (text.strip() if strip else text), cut


class Draft:
    """A test result being read; text fields are filled while the XML streams in."""

    __slots__ = (
        "suite", "classname", "name", "cut", "status", "duration", "started",
        "type", "message", "trace", "stdout", "stderr",
    )  # fmt: skip

    def __init__(self, suite: str, suite_cut: int, classname: str, name: str, limits: Limits):
        self.classname, class_cut = cap_str(classname, limits.name)
        self.name, name_cut = cap_str(name, limits.name)
        self.suite = suite
        self.cut = suite_cut + class_cut + name_cut
        self.status: Status = "passed"
        self.duration: float | None = None
        self.started: datetime | None = None
        self.type: str | None = None
        self.message: CappedText | None = None
        self.trace: CappedText | None = None
        self.stdout: CappedText | None = None
        self.stderr: CappedText | None = None

    def set_type(self, kind: str | None, limits: Limits) -> None:
        """Keep an exception type, capped like a name."""
        if kind and self.type is None:
            self.type, cut = cap_str(kind, limits.name)
            self.cut += cut

    def result(self, attempt: int = 1, final: bool = True, flaky: bool = False) -> CaseResult:
        """The CaseResult for this draft."""
        message, m_cut = _text(self.message, strip=True)
        trace, t_cut = _text(self.trace)
        stdout, o_cut = _text(self.stdout)
        stderr, e_cut = _text(self.stderr)
        return CaseResult(
            self.suite, self.classname, self.name, self.status, attempt, final, flaky,
            self.duration, message, self.type, trace, stdout, stderr,
            self.cut + m_cut + t_cut + o_cut + e_cut, self.started,
        )  # fmt: skip

    def kept(self, limits: Limits) -> int:
        """Characters of text this draft holds (to bound what a parser buffers)."""
        held = len(self.name) + len(self.classname)
        for capped, cap in (
            (self.message, limits.message),
            (self.trace, limits.trace),
            (self.stdout, limits.output),
            (self.stderr, limits.output),
        ):
            if capped is not None:
                held += min(capped.total, cap)
        return held


class StreamTarget:
    """Base lxml target: safety checks and text capture; subclasses get local names."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.limits = ctx.limits
        self.max_depth = ctx.limits.max_depth
        self.out: list[CaseResult | ParseIssue] = []
        self.depth = 0
        self.cap: CappedText | None = None
        self.cap_depth = -1
        self.cap_deep = False

    def doctype(self, *_args: Any) -> None:
        """Refuse any DOCTYPE: no DTD, no entity declarations."""
        raise ParseError(DTD_REFUSED, kind="hostile")

    def start(self, tag: str, attrib: Any) -> None:
        """Handle a start tag."""
        self.depth = depth = self.depth + 1
        if depth > self.max_depth:
            raise ParseError(f"elements nested deeper than {self.max_depth}", kind="hostile")
        if self.cap is None:  # markup inside captured text is skipped
            self.open(local(tag), attrib, depth)

    def end(self, tag: str) -> None:
        """Handle an end tag."""
        depth = self.depth
        self.depth = depth - 1
        if depth == self.cap_depth:
            self.cap = None
            self.cap_depth = -1
        elif self.cap is None:
            self.shut(local(tag), depth)

    def data(self, text: str) -> None:
        """Collect character data of the element being captured."""
        if self.cap is not None and (self.depth == self.cap_depth or self.cap_deep):
            self.cap.add(text)

    def close(self) -> None:
        """End of document."""
        self.finish()

    def capture(self, draft: Draft, field: str, depth: int, deep: bool = False) -> None:
        """Send the text of the element opened at ``depth`` to ``draft.<field>``.

        ``deep`` takes the text of nested elements too; otherwise it is left out.
        """
        capped = getattr(draft, field)
        if capped is None:
            capped = CappedText(getattr(self.limits, _CAPS[field]))
            setattr(draft, field, capped)
        elif field == "message" and capped.total:
            return  # the first message found is the one kept
        self.cap = capped
        self.cap_depth = depth
        self.cap_deep = deep

    def open(self, tag: str, attrib: Any, depth: int) -> None:
        """Handle a start tag outside captured text."""

    def shut(self, tag: str, depth: int) -> None:
        """Handle an end tag outside captured text."""

    def finish(self) -> None:
        """Handle the end of the document."""
