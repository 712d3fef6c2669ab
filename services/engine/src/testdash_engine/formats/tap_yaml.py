"""TAP YAML diagnostics blocks (``---`` ... ``...``) into message, trace and duration.

The block is parsed with ``yaml.safe_load`` only when it is under ``YAML_CAP``
characters; a larger, broken or non-mapping block is kept as raw text for the trace.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml

from testdash_engine.textcap import CappedText

YAML_CAP = 256 * 1024
_OWN_KEYS = ("message", "stack", "at", "duration_ms")


class Diagnostics(NamedTuple):
    """What a YAML block contributes to a result."""

    message: str | None
    trace: str | None
    duration: float | None
    problem: str | None  # why the block was kept as raw text, if it was


class YamlBlock:
    """Collects the lines of one block; text beyond the cap is kept only as capped raw text."""

    __slots__ = ("indent", "line", "lines", "raw", "size")

    def __init__(self, indent: int, line: int, trace_cap: int) -> None:
        self.indent = indent
        self.line = line
        self.lines: list[str] | None = []
        self.size = 0
        self.raw = CappedText(trace_cap)

    def take(self, line: str) -> bool | None:
        """Take a line: True if added, None for the closing '...', False if it ends the block."""
        content = line.strip()
        indent = len(line) - len(line.lstrip(" \t"))
        if not content:
            self.add("")
        elif content == "..." and indent <= self.indent:
            return None
        elif indent >= self.indent:
            self.add(line[self.indent :])
        elif content[0] == "#":
            self.add(content)  # a comment line mid-block does not end it
        else:
            return False
        return True

    def add(self, text: str) -> None:
        """Append one line (already de-indented)."""
        self.raw.add(text + "\n")
        if self.lines is not None:
            self.size += len(text) + 1
            if self.size > YAML_CAP:
                self.lines = None  # too big to parse; the raw text stays capped
            else:
                self.lines.append(text)

    def result(self, closed: bool) -> Diagnostics:
        """Parse the block; a broken one gives its raw text and a problem."""
        raw = self.raw.result()[0].rstrip("\n") or None
        if not closed:
            return Diagnostics(None, raw, None, "YAML diagnostics block without its '...' end")
        if self.lines is None:
            return Diagnostics(None, raw, None, f"YAML block over {YAML_CAP} characters")
        try:
            data = yaml.safe_load("\n".join(self.lines))
        except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as exc:
            first = str(exc).split("\n", 1)[0]
            return Diagnostics(None, raw, None, f"bad YAML diagnostics: {first}")
        if data is None:
            return Diagnostics(None, None, None, None)
        if not isinstance(data, dict):
            return Diagnostics(None, raw, None, None)
        return _from_mapping(data)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return _dump(value)


def _dump(value: Any) -> str:
    try:
        return yaml.safe_dump(
            value, allow_unicode=True, default_flow_style=False, sort_keys=False, width=120
        ).rstrip("\n")
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        return "(diagnostics that could not be shown)"


def _from_mapping(data: dict[Any, Any]) -> Diagnostics:
    """Message from ``message``; trace from ``stack``, ``at`` and the other keys."""
    message = _text(data.get("message"))
    duration = None
    ms = data.get("duration_ms")
    if isinstance(ms, int | float) and not isinstance(ms, bool) and 0 <= ms < 1e15:
        duration = ms / 1000
    parts = []
    stack = _text(data.get("stack"))
    if stack:
        parts.append(stack.rstrip("\n"))
    at = data.get("at")
    if isinstance(at, str) and at:
        parts.append(f"at: {at}")
    elif at is not None:
        parts.append(_dump({"at": at}))
    rest = {k: v for k, v in data.items() if k not in _OWN_KEYS}
    if rest:
        parts.append(_dump(rest))
    if message is not None:
        message = message.strip() or None
    return Diagnostics(message, "\n".join(parts) or None, duration, None)
