"""Stream JSON reports safely: pull events, select values by path, or read one object per line.

One document goes through ijson's ``basic_parse`` (yajl2 C backend): no prefix strings,
which would grow with the depth and the key lengths of a hostile file; :func:`values`
tracks only the paths its callers ask for. Bounds, so memory follows them, not the file:

- one token (a string, a number, a run of bytes without a quote) or line: ``MAX_TOKEN``
  bytes, else "too-large" (yajl builds each string whole, so a 2 GB string is refused
  before it is built);
- one built value (a test object): ``MAX_ITEM_EVENTS`` events and ``MAX_ITEM_TEXT``
  characters of text, else "too-large"; a whole document: ``max_bytes`` when given;
- nesting: ``Limits.max_depth``, else "hostile"; a raw NUL byte: "hostile".

A UTF-8 BOM is dropped, even split over chunks. Invalid UTF-8, raw control characters,
NaN, integers beyond 64 bits, trailing garbage and truncation are "malformed" (yajl);
blank input is "empty".
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import ijson

from testdash_engine.model import Limits, ParseError, ParseIssue
from testdash_engine.textcap import cap_str

MAX_TOKEN = 16 * 1024 * 1024
MAX_ITEM_EVENTS = 1_000_000
MAX_ITEM_TEXT = 64 * 1024 * 1024
_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})
_WS = b" \t\r\n"


def _without_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass chunks on without a leading UTF-8 BOM, even one split over tiny chunks."""
    it = iter(chunks)
    head = b""
    for chunk in it:
        head += chunk
        if len(head) < 3 and codecs.BOM_UTF8.startswith(head):
            continue
        yield head.removeprefix(codecs.BOM_UTF8)
        break
    else:
        if head:  # shorter than a BOM: yajl will say what is wrong with it
            yield head
        return
    yield from it


def _last_quote(chunk: bytes) -> int:
    """Offset of the last quote in ``chunk`` not escaped by a backslash, or -1."""
    pos = chunk.rfind(b'"')
    while pos > 0:
        slashes = 0
        while pos - slashes > 0 and chunk[pos - slashes - 1] == 0x5C:
            slashes += 1
        if slashes % 2 == 0:
            break
        pos = chunk.rfind(b'"', 0, pos)
    return pos


class _Reader:
    """File-like view of the chunks for ijson, enforcing the byte-level bounds."""

    def __init__(self, chunks: Iterable[bytes], max_bytes: int | None) -> None:
        self._chunks = iter(_without_bom(chunks))
        self._max_bytes = max_bytes
        self._run = 0  # bytes since the last unescaped quote
        self._seen = False  # a byte that is not whitespace
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Return the next non-empty chunk, or b"" at the end."""
        if size == 0:  # ijson probes the type of the stream with read(0)
            return b""
        for chunk in self._chunks:
            if not chunk:
                continue
            if b"\x00" in chunk:
                raise ParseError("NUL byte in JSON text", kind="hostile")
            self.size += len(chunk)
            if self._max_bytes is not None and self.size > self._max_bytes:
                raise ParseError(
                    f"JSON report larger than {self._max_bytes} bytes", kind="too-large"
                )
            quote = _last_quote(chunk)
            self._run = self._run + len(chunk) if quote < 0 else len(chunk) - quote
            if self._run > MAX_TOKEN:
                raise ParseError(
                    f"a JSON string or number longer than {MAX_TOKEN // (1024 * 1024)} MiB",
                    kind="too-large",
                )
            self._seen = self._seen or bool(chunk.strip(_WS))
            return chunk
        if not self._seen:
            raise ParseError("the file is empty", kind="empty")
        return b""


def _reason(exc: Exception) -> str:
    """The first line of a yajl message (the rest quotes the input)."""
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    first = str(text).strip().split("\n", 1)[0]
    return f"invalid JSON: {first}" if first else "invalid JSON"


class JsonEvents:
    """Pull ``(event, value)`` pairs from one JSON document, within the bounds above."""

    def __init__(
        self, chunks: Iterable[bytes], limits: Limits, max_bytes: int | None = None
    ) -> None:
        self.max_depth = limits.max_depth
        self.depth = 0
        self._events = ijson.basic_parse(
            _Reader(chunks, max_bytes), buf_size=max(limits.chunk_size, 1), use_float=True
        )

    def next(self) -> tuple[str, Any]:
        """Return the next event; ("eof", None) after the last one."""
        try:
            event, value = next(self._events)
        except StopIteration:
            return "eof", None
        except ijson.JSONError as exc:
            raise ParseError(_reason(exc)) from None
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid UTF-8: {exc.reason}") from None
        if event in _STARTS:
            self.depth += 1
            if self.depth > self.max_depth:
                raise ParseError(f"JSON nested deeper than {self.max_depth}", kind="hostile")
        elif event in _ENDS:
            self.depth -= 1
        return event, value

    def value(self, event: str, value: Any, skip: frozenset[str] = frozenset()) -> Any:
        """Build the value that starts with ``event``; keys in ``skip`` are left out unread."""
        if event not in _STARTS:
            return value
        root: Any = {} if event == "start_map" else []
        stack: list[Any] = [root]
        key: str | None = None
        count = text = 0
        while stack:
            event, value = self.next()
            count += 1
            if event == "map_key":
                text += len(value)
                if value in skip:
                    self.skip(*self.next())
                else:
                    key = value
            elif event in _ENDS:
                stack.pop()
            else:
                if event in _STARTS:
                    value = {} if event == "start_map" else []
                elif value.__class__ is str:
                    text += len(value)
                top = stack[-1]
                if top.__class__ is dict:
                    top[key] = value
                else:
                    top.append(value)
                if event in _STARTS:
                    stack.append(value)
            if count > MAX_ITEM_EVENTS or text > MAX_ITEM_TEXT:
                raise ParseError("one JSON value (a test) is too large", kind="too-large")
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


def _ancestors(paths: frozenset[str]) -> frozenset[str]:
    """Every container path that leads to one of ``paths`` ("" is the document)."""
    found = {""}
    for path in paths:
        parts = path.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(found)


def values(
    chunks: Iterable[bytes],
    limits: Limits,
    wanted: frozenset[str],
    marks: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, Any]]:
    """Yield ``(path, value)`` for values under ``wanted`` and ``(path, None)`` at ``marks``.

    Paths are ijson prefixes ("results.tests.item"); everything else is skipped unbuilt.
    """
    events = JsonEvents(chunks, limits)
    inner = _ancestors(wanted | marks)
    # The containers being walked (each leads to a wanted path): (path, is an array).
    walking: list[tuple[str, bool]] = []
    path = ""
    while True:
        event, value = events.next()
        if event == "eof":
            return
        if event in _ENDS:
            walking.pop()
            continue
        if event == "map_key":
            parent = walking[-1][0]
            path = f"{parent}.{value}" if parent else value
            continue
        if walking and walking[-1][1]:
            parent = walking[-1][0]
            path = f"{parent}.item" if parent else "item"
        if path in wanted:
            yield path, events.value(event, value)
            continue
        if path in marks:
            yield path, None
        if event in _STARTS:
            if path in inner:
                walking.append((path, event == "start_array"))
            else:
                events.skip(event)


def lines(chunks: Iterable[bytes], max_line: int = MAX_TOKEN) -> Iterator[tuple[int, bytes]]:
    """Split chunks into ``(line number, line)`` without the newline; cap a line's length."""
    carry = b""
    number = 0
    for chunk in _without_bom(chunks):
        buf = carry + chunk if carry else chunk
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            number += 1
            yield number, buf[start:end]
            start = end + 1
        carry = buf[start:]
        if len(carry) > max_line:
            raise ParseError(
                f"a line longer than {max_line // (1024 * 1024)} MiB",
                line=number + 1,
                kind="too-large",
            )
    if carry:
        yield number + 1, carry


def json_line(line: bytes, number: int) -> Any:
    """Decode one line: a JSON value, or None when it is text that is not JSON."""
    if b"\x00" in line:
        raise ParseError("NUL bytes in the file", line=number, kind="malformed")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("invalid UTF-8", line=number, kind="malformed") from None
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        return json.loads(stripped)
    except RecursionError:
        raise ParseError("JSON nested too deeply", line=number, kind="hostile") from None
    except ValueError:
        return None


class EventLines:
    """The events of a line-delimited JSON stream (go test -json, Dart): objects with KEY.

    Other lines (build output, noise) are skipped and counted; ``note`` says how many.
    A stream with no event at all is refused as ``no {what} events in the file``.
    """

    def __init__(self, chunks: Iterable[bytes], key: str, what: str, noise: str) -> None:
        self.chunks, self.key, self.what, self.noise = chunks, key, what, noise
        self.skipped = 0
        self.first_skipped: int | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        events = 0
        for line_no, line in lines(self.chunks):
            event = json_line(line, line_no)
            if not isinstance(event, dict) or self.key not in event:
                if line.strip():
                    self.skipped += 1
                    self.first_skipped = self.first_skipped or line_no
                continue
            events += 1
            yield event
        if not events:
            raise ParseError(f"no {self.what} events in the file")

    def note(self) -> Iterator[ParseIssue]:
        """The note on skipped lines, if any (after the stream is read)."""
        if self.skipped:
            message = f"{self.skipped} line(s) that are not {self.noise} events ignored"
            yield ParseIssue(message, self.first_skipped)


def string(value: Any) -> str | None:
    """A JSON string or None (null, missing); any other type is malformed (identity fields)."""
    if value is None or value.__class__ is str:
        return value
    raise ParseError(f"expected a string, found {type(value).__name__}: {str(value)[:80]}")


def text(value: Any, cap: int) -> tuple[str | None, int]:
    """Cap a JSON string value (lists of lines are joined); None when missing or blank."""
    if isinstance(value, list):
        value = "\n".join(str(v) for v in value if isinstance(v, str | int | float))
    if not isinstance(value, str) or not value.strip():
        return None, 0
    return cap_str(value, cap)


def name(value: Any, cap: int) -> tuple[str, int]:
    """A name as a capped string ("" when missing)."""
    if value is None:
        return "", 0
    return cap_str(value if isinstance(value, str) else str(value), cap)


def number(value: Any) -> float | None:
    """A finite non-negative number, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def millis(value: Any) -> float | None:
    """Seconds from a millisecond count."""
    ms = number(value)
    return None if ms is None else ms / 1000.0


def epoch_ms(value: Any) -> datetime | None:
    """UTC datetime from Unix epoch milliseconds (plausible years only)."""
    ms = number(value)
    if ms is None or not 0 < ms < 32503680000000:  # before year 3000
        return None
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def epoch_s(value: Any) -> datetime | None:
    """UTC datetime from Unix epoch seconds."""
    seconds = number(value)
    return None if seconds is None else epoch_ms(seconds * 1000.0)
