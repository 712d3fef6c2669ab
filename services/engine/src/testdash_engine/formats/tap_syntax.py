"""TAP lines: bounded line splitting and decoding, and the grammar of one line.

Decisions:
- A line longer than ``MAX_LINE`` bytes keeps its first ``MAX_LINE`` bytes; the rest
  is skipped up to the next newline, so a 2 GB single-line file is read in bounded
  memory. The reader counts such lines for one ParseIssue.
- UTF-8, with or without BOM. Invalid UTF-8 is replaced with U+FFFD and counted for
  one ParseIssue: TAP is usually captured process output, where one bad byte in a
  log line should not lose the run.
- A NUL byte anywhere rejects the file as binary, as detect.py does for the head.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from testdash_engine.model import ParseError

MAX_LINE = 1024 * 1024
BINARY = "binary content (NUL bytes), not a test report"

_POINT = re.compile(r"(not )?ok(?:\s+|$)")
_NUMBER = re.compile(r"(\d{1,18})(?:\s+|$)")
_PLAN = re.compile(r"(\d{1,18})\.\.(\d{1,18})(?:\s*#\s*(.*))?$")
_DIRECTIVE = re.compile(r"\s*(skip|todo)\S*\s*(.*)$", re.IGNORECASE | re.DOTALL)
_TIME = re.compile(r"\s*time=(\d+(?:\.\d+)?)(ms|s)?\s*$")
HEADING = re.compile(r"#\s*Subtest(?::\s*(.*))?$")
VERSION = re.compile(r"TAP version \d+$", re.IGNORECASE)
PRAGMA = re.compile(r"pragma [+-]")
BAIL = re.compile(r"Bail out!\s*(.*)$", re.IGNORECASE)


class Point(NamedTuple):
    """The parts of an ``ok``/``not ok`` line."""

    ok: bool
    number: int | None
    description: str
    directive: str | None  # "SKIP" or "TODO"
    reason: str
    duration: float | None
    opens_block: bool  # ends with "{": a buffered subtest follows


class LineReader:
    """Split byte chunks into decoded lines, in bounded memory."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.lineno = 0
        self.long_lines = 0
        self.bad_lines = 0
        self.first_bad = 0

    def _decode(self, raw: bytes) -> str:
        self.lineno += 1
        if len(raw) > MAX_LINE:
            raw = raw[:MAX_LINE]
            self.long_lines += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            self.bad_lines += 1
            self.first_bad = self.first_bad or self.lineno
        if self.lineno == 1 and text.startswith("\ufeff"):
            text = text[1:]
        return text[:-1] if text.endswith("\r") else text

    def __iter__(self) -> Iterator[str]:
        """Yield each line without its end-of-line characters."""
        pending = b""
        skipping = False  # inside an over-long line, dropping bytes until the newline
        for chunk in self.chunks:
            nul = chunk.find(b"\x00")
            if nul >= 0:
                line = self.lineno + 1 + (pending + chunk[:nul]).count(b"\n")
                raise ParseError(BINARY, kind="not-a-report", line=line)
            parts = chunk.split(b"\n")
            last = parts.pop()
            for part in parts:
                if not skipping:
                    pending += part
                yield self._decode(pending)
                pending = b""
                skipping = False
            if not skipping:
                pending += last
                if len(pending) > MAX_LINE:
                    pending = pending[: MAX_LINE + 1]  # _decode notes the cut
                    skipping = True
        if pending or skipping:
            yield self._decode(pending)


def unescape(text: str) -> str:
    r"""Undo TAP14 escapes: ``\\#`` is ``#`` and ``\\\\`` is a backslash."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([\\#])", r"\1", text)


def _split_directive(text: str) -> tuple[str, str | None]:
    """Split at the first unescaped ``#`` that starts the text or follows whitespace."""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i], text[i + 1 :]
        i += 1
    return text, None


def parse_point(content: str) -> Point | None:
    """Parse a test point line (indent removed), or return None if it is not one."""
    match = _POINT.match(content)
    if match is None:
        return None
    rest = content[match.end() :].rstrip()
    number = None
    found = _NUMBER.match(rest)
    if found is not None:
        number = int(found.group(1))
        rest = rest[found.end() :]
    if rest[:1] == "-" and rest[1:2] in ("", " ", "\t"):
        rest = rest[1:].lstrip()
    opens_block = rest == "{" or rest.endswith((" {", "\t{"))
    if opens_block:
        rest = rest[:-1].rstrip()
    head, tail = _split_directive(rest)
    directive, reason, duration = None, "", None
    if tail is not None:
        found = _DIRECTIVE.match(tail)
        timed = _TIME.match(tail.removesuffix("{"))
        if found is not None:
            directive, reason = found.group(1).upper(), unescape(found.group(2).strip())
        elif timed is not None:
            duration = float(timed.group(1)) / (1 if timed.group(2) == "s" else 1000)
            opens_block = opens_block or tail.rstrip().endswith("{")
        else:
            head = rest  # a "#" that starts no directive belongs to the description
    description = head.strip()
    if not opens_block and directive is None and description.endswith(" {"):
        description, opens_block = description[:-2].rstrip(), True  # "ok 1 - x { # time=1ms"
    return Point(
        match.group(1) is None, number, unescape(description), directive, reason, duration,
        opens_block,
    )  # fmt: skip


def parse_plan(content: str) -> tuple[int, int, str | None] | None:
    """Parse ``1..N`` (with an optional ``# comment``), or return None."""
    match = _PLAN.match(content)
    if match is None:
        return None
    comment = match.group(3)
    return int(match.group(1)), int(match.group(2)), unescape(comment.strip()) if comment else None
