"""Stream JSON reports safely: one document through ijson, or one object per line.

Bounds (memory stays proportional to them, not to the file):
- a single token (string, number) or line: ``MAX_TOKEN`` bytes, else "too-large"
  (ijson builds each string whole, so a 2 GB string must be refused before it);
- one collected value (a test object): ``MAX_ITEM_EVENTS`` parse events and
  ``MAX_ITEM_TEXT`` characters of text, else "too-large";
- nesting: ``ctx.limits.max_depth``, else "hostile".
Invalid UTF-8, raw control characters (NUL) and syntax errors are "malformed".
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import ijson

from testdash_engine.model import Limits, ParseError
from testdash_engine.textcap import cap_str

MAX_TOKEN = 16 * 1024 * 1024
MAX_ITEM_EVENTS = 1_000_000
MAX_ITEM_TEXT = 64 * 1024 * 1024
_WS = b" \t\r\n"


def _token_guard(chunks: Iterable[bytes], max_token: int) -> Iterator[bytes]:
    """Pass chunks on, refusing a run longer than ``max_token`` without an unescaped quote."""
    run = 0
    first = True
    for chunk in chunks:
        if first and chunk:
            first = False
            if chunk.startswith(codecs.BOM_UTF8):  # detect.py accepts a UTF-8 BOM
                chunk = chunk[3:]
        pos = chunk.rfind(b'"')
        while pos > 0:
            slashes = 0
            while pos - slashes > 0 and chunk[pos - slashes - 1] == 0x5C:
                slashes += 1
            if slashes % 2 == 0:
                break
            pos = chunk.rfind(b'"', 0, pos)
        run = run + len(chunk) if pos < 0 else len(chunk) - pos
        if run > max_token:
            raise ParseError(
                f"a JSON string or number longer than {max_token // (1024 * 1024)} MiB",
                kind="too-large",
            )
        yield chunk


def _syntax(exc: Exception) -> ParseError:
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    first = str(text).strip().split("\n", 1)[0] or type(exc).__name__
    return ParseError(f"invalid JSON: {first}", kind="malformed")


def events(chunks: Iterable[bytes], limits: Limits) -> Iterator[tuple[str, str, Any]]:
    """Yield ijson ``(prefix, event, value)`` triples for one JSON document."""
    sink = ijson.sendable_list()
    coro = ijson.parse_coro(sink, use_float=True)
    depth = 0
    max_depth = limits.max_depth
    seen = False
    try:
        for chunk in _token_guard(chunks, MAX_TOKEN):
            if not seen:
                if not chunk.strip(_WS):
                    continue
                seen = True
            coro.send(chunk)
            for item in sink:
                event = item[1]
                if event == "start_map" or event == "start_array":
                    depth += 1
                    if depth > max_depth:
                        raise ParseError(f"JSON nested deeper than {max_depth}", kind="hostile")
                elif event == "end_map" or event == "end_array":
                    depth -= 1
                yield item
            del sink[:]
        if not seen:
            raise ParseError("the file is empty", kind="empty")
        coro.close()
    except ijson.JSONError as exc:
        raise _syntax(exc) from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid UTF-8: {exc.reason}", kind="malformed") from None
    yield from sink


def collect(stream: Iterator[tuple[str, str, Any]], first: tuple[str, str, Any]) -> Any:
    """Build the value starting with event ``first`` from ``stream``, within the item caps."""
    builder = ijson.ObjectBuilder()
    prefix, event, value = first
    builder.event(event, value)
    if event not in ("start_map", "start_array"):
        return builder.value
    depth = 1
    count = 0
    text = 0
    for _, event, value in stream:
        builder.event(event, value)
        count += 1
        if event == "string" or event == "map_key":
            text += len(value)
        elif event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
            if not depth:
                return builder.value
        if count > MAX_ITEM_EVENTS or text > MAX_ITEM_TEXT:
            raise ParseError(f"one JSON value at {prefix!r} is too large", kind="too-large")
    return builder.value


def values(
    chunks: Iterable[bytes],
    limits: Limits,
    wanted: frozenset[str],
    marks: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, Any]]:
    """Yield ``(prefix, value)`` for values under ``wanted`` and ``(prefix, None)`` at ``marks``."""
    stream = events(chunks, limits)
    for item in stream:
        prefix, event = item[0], item[1]
        if event == "map_key" or event[:4] == "end_":
            continue
        if prefix in wanted:
            yield prefix, collect(stream, item)
        elif prefix in marks:
            yield prefix, None


def lines(chunks: Iterable[bytes], max_line: int = MAX_TOKEN) -> Iterator[tuple[int, bytes]]:
    """Split chunks into ``(line number, line)`` without the newline; cap a line's length."""
    carry = b""
    number = 0
    for chunk in chunks:
        if number == 0 and not carry and chunk.startswith(codecs.BOM_UTF8):
            chunk = chunk[3:]
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
