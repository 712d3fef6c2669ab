"""Failure fingerprints: a failure's message and type, normalised, as a signed 64-bit hash.

Two failures with the same cause differ in the details a run fills in (ids, times,
addresses, temporary paths, values in quotes); those are replaced by placeholders
so the failures hash alike and form one cluster. No Flask, no SQLAlchemy: the
parse workers call this on other cores.
"""

from __future__ import annotations

import hashlib
import re

FAILING = frozenset(("failed", "error"))
# Only the head of a message is normalised: the cause is stated first, and a bounded
# input keeps the regular expressions' cost bounded on a megabyte of output.
MAX_CHARS = 1000
CACHE_SIZE = 4096

# Order matters: wider shapes first, so a UUID is not eaten as hex and numbers. Each rule
# names the strings one of which any match holds: most messages hold no UUID, address,
# URL, path or quote, and a pass over them is skipped ("" is in every text: always run).
_RULES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (
        re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I),
        "<uuid>",
        ("-",),
    ),
    (
        re.compile(
            r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
            r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
        ),
        "<time>",
        ("-", ":"),
    ),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<addr>", ("0x", "0X")),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>", (".",)),
    (re.compile(r"https?://\S+"), "<url>", ("://",)),
    (re.compile(r"(?:\b[a-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?", re.I), "<path>", ("/", "\\")),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|`[^`\n]{0,200}`"), "<str>", ("'", '"', "`")),
    # Hex runs of 8+ with a digit (object ids, hashes), then any remaining number (\d is
    # any Unicode digit: no cheap test).
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I), "<hex>", ("",)),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.I), "<n>", ("",)),
)


def normalise(message: str | None) -> str:
    """The message with run-specific details replaced by placeholders."""
    text = (message or "")[:MAX_CHARS]
    for pattern, placeholder, needs in _RULES:
        for need in needs:
            if need in text:
                text = pattern.sub(placeholder, text)
                break
    return " ".join(text.split())  # runs of whitespace as one space (\s is str.isspace)


def fingerprint(type_: str | None, message: str | None) -> int:
    """The signed 64-bit fingerprint of a failure's type and normalised message."""
    kind = " ".join((type_ or "")[:512].split())
    data = f"{kind}\x1f{normalise(message)}".encode("utf-8", "replace")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


_cache: dict[tuple[str | None, str | None], int] = {}


def failure_fingerprint(status: str, type_: str | None, message: str | None) -> int | None:
    """A failed or errored result's fingerprint (None otherwise), cached by type and message.

    On the hot path: failures of one cause repeat within a run, and passes cost one lookup.
    """
    if status not in FAILING:
        return None
    key = (type_, message)
    try:
        return _cache[key]
    except KeyError:
        if len(_cache) >= CACHE_SIZE:  # bounded: a run of unique messages just hashes again
            _cache.clear()
        value = _cache[key] = fingerprint(type_, message)
        return value
