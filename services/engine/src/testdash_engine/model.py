"""Neutral records passed from the format parsers to persistence.

Nothing here imports Flask or SQLAlchemy: the parsers and the ``parse`` command
use these records without a database.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal, NamedTuple, Protocol

Status = Literal["passed", "failed", "error", "skipped"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "skipped")

RejectKind = Literal["malformed", "not-a-report", "hostile", "unreadable", "empty", "too-large"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied while parsing; text over a cap keeps its head and tail."""

    message: int = 8 * 1024
    trace: int = 64 * 1024
    output: int = 64 * 1024
    name: int = 1024
    max_depth: int = 256
    max_attribute: int = 1024 * 1024
    chunk_size: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser needs besides the bytes."""

    limits: Limits = field(default_factory=Limits)
    default_tz: tzinfo = UTC


# A parsed time's zone keeps what the report said of it, read back by source_zone: an offset
# the report stated stays (UTC as STATED_UTC, so plain UTC is free to mean "no zone", as for
# epoch times); a naive time read in ParseContext.default_tz gets that zone's offset, named
# _ASSUMED + the zone. Names survive the pickling that takes FileCounts out of parse workers.
STATED_UTC = timezone(timedelta(0), "Z")
_ASSUMED = "~"


class SourceZone(NamedTuple):
    """What a report said of a time's zone: the offset it stated, or the zone it was read in."""

    utc_offset: int | None = None  # minutes east of UTC
    assumed_zone: str | None = None


def source_zone(moment: datetime | None) -> SourceZone:
    """The zone a parsed time came with (see :func:`zoned`); neither part for UTC or None."""
    zone = None if moment is None else moment.tzinfo
    if zone is None or zone is UTC:
        return SourceZone()
    name = zone.tzname(moment) or ""
    if name.startswith(_ASSUMED):
        return SourceZone(None, name[len(_ASSUMED) :])
    offset = zone.utcoffset(moment)
    return SourceZone(None if offset is None else int(offset.total_seconds()) // 60)


def zoned(moment: datetime, default_tz: tzinfo) -> datetime | None:
    """A time read from a report, zoned so that :func:`source_zone` tells what the report said.

    A stated offset is kept; a naive time is read in DEFAULT_TZ and marked assumed. None when
    the time cannot be moved to UTC (year 1 or 9999 across a zone: .NET's "never").
    """
    zone = moment.tzinfo
    try:
        # astimezone where the instant stays: several times faster than replace on 3.11.
        if zone is None:
            local = moment.replace(tzinfo=default_tz)
            offset = local.utcoffset() or timedelta(0)
            moment = local.astimezone(_assumed(offset, _zone_name(default_tz)))
        elif zone is UTC:
            moment = moment.astimezone(STATED_UTC)
        if 1 < moment.year < 9999:  # only the first and last day can leave datetime's range
            return moment
        moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment


@functools.lru_cache(maxsize=256)
def _assumed(offset: timedelta, name: str) -> timezone:
    return timezone(offset, _ASSUMED + name)


def _zone_name(zone: tzinfo) -> str:
    """An IANA key (ZoneInfo), else the zone's own name (UTC)."""
    return getattr(zone, "key", None) or zone.tzname(None) or "UTC"


class CaseResult(NamedTuple):
    """One execution (attempt) of one test case, as found in a report.

    A NamedTuple, not a frozen dataclass: parsers make one per test case and a
    dataclass's generated ``__init__`` costs more than the XML work for a passing case.
    """

    suite: str
    classname: str
    name: str
    status: Status
    attempt: int = 1
    final: bool = True
    flaky: bool = False
    duration: float | None = None
    message: str | None = None
    type: str | None = None
    trace: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    truncated: int = 0
    started_at: datetime | None = None

    @property
    def identity(self) -> tuple[str, str, str]:
        """The stable identity of the test case: suite, class and name."""
        return (self.suite, self.classname, self.name)


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """A non-fatal note about a file (a repaired value, an ignored element)."""

    message: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    """What the detector found a file to be."""

    format: str
    dialect: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a file was not ingested, in words a user can act on."""

    kind: RejectKind
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.kind}: {self.reason}{where}"


class ParseError(Exception):
    """Raised inside a parser; the pipeline turns it into a Rejection value."""

    def __init__(self, reason: str, *, line: int | None = None, kind: RejectKind = "malformed"):
        super().__init__(reason)
        self.rejection = Rejection(kind=kind, reason=reason, line=line)


class Parser(Protocol):
    """A format parser: bytes in, case results out, ParseError on a bad file."""

    def __call__(
        self, chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
    ) -> Iterator[CaseResult | ParseIssue]:
        """Yield results as they are read; raise ParseError for a bad file."""
        ...


@dataclass(slots=True)
class ParsedFile:
    """Summary of one parsed file: what the engine would store for it."""

    path: str
    size: int
    sha256: str | None = None
    format: str | None = None
    dialect: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    attempts: int = 0
    flaky: int = 0
    issues: list[ParseIssue] = field(default_factory=list)
    rejection: Rejection | None = None

    @property
    def accepted(self) -> bool:
        """True when the file is a test report that parsed cleanly."""
        return self.rejection is None

    @property
    def tests(self) -> int:
        """Number of tests counted once each (final attempts)."""
        return sum(self.counts.values())


def test_case_key(suite: str, classname: str, name: str) -> int:
    """Deterministic signed 64-bit key of a test identity (same on every engine)."""
    digest = hashlib.blake2b(
        "\x1f".join((suite, classname, name)).encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)
