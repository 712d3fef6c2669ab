"""Read a JSON report as ijson events from byte chunks, safely and with bounded memory.

ijson's yajl2 C backend rejects invalid UTF-8, raw control characters, NaN and
trailing garbage itself. We use ``basic_parse`` (no prefixes: a prefix string
grows with the depth, so a deeply nested hostile file would cost quadratic time)
and count the depth ourselves. A single JSON string is built whole by yajl, so
one huge string costs its size once; every value a parser keeps is capped after.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

import ijson

from testdash_engine.model import ParseContext, ParseError

_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})


class _Reader:
    """File-like view of the chunks for ijson: strips a UTF-8 BOM, refuses NUL, counts bytes."""

    def __init__(self, chunks: Iterator[bytes], cap: int | None) -> None:
        self._chunks = chunks
        self._cap = cap
        self._head = b""
        self._started = False
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Return the next non-empty chunk, or b"" at the end."""
        if size == 0:  # ijson probes the type of the stream with read(0)
            return b""
        for chunk in self._chunks:
            if not self._started:
                # A BOM may arrive split over tiny chunks: hold bytes until three are seen.
                self._head += chunk
                if len(self._head) < 3 and codecs.BOM_UTF8.startswith(self._head):
                    continue
                chunk = self._head.removeprefix(codecs.BOM_UTF8)
                self._started = True
            if not chunk:
                continue
            if b"\x00" in chunk:
                raise ParseError("NUL byte in JSON text", kind="hostile")
            self.size += len(chunk)
            if self._cap is not None and self.size > self._cap:
                raise ParseError(f"JSON report larger than {self._cap} bytes", kind="too-large")
            return chunk
        if not self._started:
            self._started = True
            return self._head.removeprefix(codecs.BOM_UTF8)
        return b""


def _reason(exc: Exception) -> str:
    """The first line of a yajl message (the rest quotes the input)."""
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    first = str(text).strip().split("\n", 1)[0]
    return f"invalid JSON: {first}" if first else "invalid JSON"


class JsonEvents:
    """Pull (event, value) pairs from a JSON document, with a depth limit."""

    def __init__(self, chunks: Iterator[bytes], ctx: ParseContext, cap: int | None = None):
        self.max_depth = ctx.limits.max_depth
        self.depth = 0
        self._events = ijson.basic_parse(
            _Reader(chunks, cap), buf_size=max(ctx.limits.chunk_size, 1), use_float=True
        )

    def next(self) -> tuple[str, Any]:
        """Return the next event; ("eof", None) after the last one."""
        try:
            event, value = next(self._events)
        except StopIteration:
            return "eof", None
        except ijson.JSONError as exc:
            raise ParseError(_reason(exc)) from None
        if event in _STARTS:
            self.depth += 1
            if self.depth > self.max_depth:
                raise ParseError(f"JSON nested deeper than {self.max_depth}", kind="hostile")
        elif event in _ENDS:
            self.depth -= 1
        return event, value

    def expect(self, wanted: str, what: str) -> None:
        """Read one event and fail unless it is ``wanted``."""
        event, _ = self.next()
        if event != wanted:
            raise ParseError(f"{what}: expected {wanted.replace('_', ' ')}, found {event}")

    def value(self, event: str, value: Any, skip: frozenset[str] = frozenset()) -> Any:
        """Build the value that starts with ``event``; keys in ``skip`` are left out."""
        if event not in _STARTS:
            return value
        root: Any = {} if event == "start_map" else []
        stack: list[Any] = [root]
        key: str | None = None
        while stack:
            event, value = self.next()
            top = stack[-1]
            if event == "map_key":
                if value in skip:
                    self.skip(*self.next())
                else:
                    key = value
                continue
            if event in _ENDS:
                stack.pop()
                continue
            if event in _STARTS:
                value = {} if event == "start_map" else []
            if top.__class__ is dict:
                top[key] = value
            else:
                top.append(value)
            if event in _STARTS:
                stack.append(value)
        return root

    def skip(self, event: str, _value: Any = None) -> None:
        """Skip the value that starts with ``event`` without building it."""
        if event not in _STARTS:
            return
        depth = self.depth - 1
        while self.depth > depth:
            self.next()

    def end(self) -> None:
        """Read to the end of the document (yajl checks for trailing garbage)."""
        event, _ = self.next()
        if event != "eof":
            raise ParseError(f"unexpected {event} after the end of the JSON document")


def text(value: Any) -> str | None:
    """A JSON string value, or None for null/missing; anything else is malformed."""
    if value is None or value.__class__ is str:
        return value
    raise ParseError(f"expected a string, found {type(value).__name__}: {str(value)[:80]}")


def number(value: Any) -> float | None:
    """A JSON number (not a boolean) as float, or None when absent or not a number."""
    if value.__class__ in (int, float):
        return float(value)
    return None
