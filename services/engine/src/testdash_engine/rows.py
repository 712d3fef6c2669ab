"""Parsed results as stored rows, with no database: keys, counts, digests, COPY lines.

Used by the PostgreSQL writer in the engine process and by the parse workers
(``worker.py``), which turn files into COPY lines on other cores; so it imports
neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from testdash_engine.fingerprint import failure_fingerprint
from testdash_engine.model import CaseResult, ParseIssue, source_zone, test_case_key

COUNT_COLUMNS = ("passed", "failed", "errors", "skipped", "flaky")
# What the report said of the zone of a file's (and a run's) start and end: model.source_zone.
ZONE_COLUMNS = ("start_utc_offset", "start_assumed_zone", "end_utc_offset", "end_assumed_zone")
_NULL = "\\N"

# Keys remembered per run to notice a test repeated across files; past this the
# run is checked in SQL instead (memory stays bounded for a file of a million tests).
RUN_KEYS = 200_000
_MASK = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant (golden ratio): spreads the sum's bits
_STATUS = {"passed": 1 << 59, "failed": 2 << 59, "error": 3 << 59, "skipped": 4 << 59}


def mix(key: int, case: CaseResult) -> int:
    """One result's share of its file's digest: the digest is their sum, in any order."""
    return mix_values(key, case.status, case.attempt, case.duration, case.message)


def mix_values(
    key: int, status: str, attempt: int, duration: float | None, message: str | None
) -> int:
    """:func:`mix` from the fields: identity, status, attempt, duration (ms), message.

    Two layouts of one execution agree on all of them; a rerun almost never does.
    """
    value = key ^ _STATUS[status] ^ (attempt << 48)
    if duration is not None and 0.0 <= duration < 1e12:  # NaN and infinities are left out
        value ^= int(duration * 1000.0)
    if message:
        value ^= zlib.crc32(message.encode("utf-8", "replace")) << 16
    return value * _MIX


def signed(digest: int) -> int:
    """A digest (a sum of any size) as PostgreSQL's signed bigint."""
    digest &= _MASK
    return digest - (1 << 64) if digest >= 1 << 63 else digest


@dataclass(slots=True)
class FileCounts:
    """What one stored file adds to its run."""

    results: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    issues: list[ParseIssue] = field(default_factory=list)
    digest: int = 0  # the sum of runs.mix over the stored results
    keys: set[int] | None = field(default_factory=set)  # None once past RUN_KEYS
    repeats: int = 0  # final results of a test already seen in this file
    _group: datetime | None = None  # the last start time seen, and its longest duration
    _group_longest: float = 0.0

    def note_key(self, key: int, case: CaseResult, ordinal: int) -> None:
        """Fold one stored result into the file's digest and key set."""
        self.digest += mix(key, case)
        keys = self.keys
        if keys is not None:
            if key in keys and case.final:
                self.repeats += 1
            keys.add(key)
            if not ordinal & 0xFFF and len(keys) > RUN_KEYS:  # checked now and then: cheap
                self.keys = None

    @property
    def tests(self) -> int:
        """Tests counted once each (final attempts)."""
        return self.passed + self.failed + self.errors + self.skipped

    def zones(self) -> tuple[int | None, str | None, int | None, str | None]:
        """The ZONE_COLUMNS values: what the report said of the start's and the end's zone."""
        return (*source_zone(self.started_at), *source_zone(self.finished_at))

    def merge(self, other: FileCounts) -> None:
        """Add another file's counts (for a batch of files)."""
        self.results += other.results
        for column in COUNT_COLUMNS:
            setattr(self, column, getattr(self, column) + getattr(other, column))
        for when in (other.started_at, other.finished_at):
            if when is None:
                continue
            if self.started_at is None or when < self.started_at:
                self.started_at = when
            if self.finished_at is None or when > self.finished_at:
                self.finished_at = when

    def add(self, case: CaseResult) -> None:
        """Count one result row (once per result: kept to plain attribute arithmetic)."""
        self.results += 1
        if case.final:
            status = case.status
            if status == "passed":
                self.passed += 1
            elif status == "failed":
                self.failed += 1
            elif status == "error":
                self.errors += 1
            else:
                self.skipped += 1
            if case.flaky:
                self.flaky += 1
        started = case.started_at
        if started is not None:
            duration = case.duration or 0.0
            # Cases of one suite share its timestamp object: one timedelta per longest case.
            if started is self._group and duration <= self._group_longest:
                return
            if started is not self._group:
                self._group, self._group_longest = started, duration
            else:
                self._group_longest = duration
            end = started + timedelta(seconds=duration)
            if self.started_at is None or started < self.started_at:
                self.started_at = started
            if self.finished_at is None or end > self.finished_at:
                self.finished_at = end


# Memory bounds for a 1 GB file of unique test names: the identity cache holds three
# strings per entry (~30 MB at 100,000), the committed-key set ~60 MB at 1,000,000.
KEY_CACHE = 100_000
KNOWN_CACHE = 1_000_000


class KnownCases:
    """Test-case keys this process has seen committed, so the catalogue is not re-sent."""

    def __init__(self) -> None:
        self.committed: set[int] = set()
        self.pending: set[int] = set()
        self.keys: dict[tuple[str, str, str], int] = {}

    def key(self, suite: str, classname: str, name: str) -> int:
        """The test-case key, hashed once per identity: identities repeat run after run."""
        identity = (suite, classname, name)
        try:
            return self.keys[identity]
        except KeyError:
            if len(self.keys) >= KEY_CACHE:  # bounded: a huge catalogue just hashes again
                self.keys.clear()
            key = self.keys[identity] = test_case_key(suite, classname, name)
            return key

    def key_for(self, case: CaseResult, new_cases: dict[int, tuple[str, str, str]]) -> int:
        """The case's test-case key; an identity not yet in the catalogue goes to NEW_CASES."""
        key = self.key(case.suite, case.classname, case.name)
        if key not in self.committed and key not in self.pending:
            new_cases[key] = (case.suite, case.classname, case.name)
        return key

    def commit(self) -> None:
        """The transaction committed: its keys are now known to exist."""
        if len(self.committed) >= KNOWN_CACHE:  # bounded: forgetting only costs an upsert
            self.committed.clear()
        self.committed |= self.pending
        self.pending.clear()

    def rollback(self) -> None:
        """The transaction rolled back: forget its keys."""
        self.pending.clear()


def count_cases(
    stream: Iterable[CaseResult | ParseIssue], counts: FileCounts
) -> Iterator[CaseResult]:
    """The results of a stream, counted as they pass; its notes are kept on the counts."""
    for item in stream:
        if isinstance(item, ParseIssue):
            counts.issues.append(item)
        else:
            counts.add(item)
            yield item


def describe(stream: object) -> tuple[str | None, str | None, str | None]:
    """SHA-256, format and dialect of a stream that was a ReportReader, read to its end."""
    detection = getattr(stream, "detection", None)
    return (
        getattr(stream, "sha256", None),
        detection.format if detection else None,
        detection.dialect if detection else None,
    )


# Durations repeat (reports round them to milliseconds): their COPY text and digest share.
_SECONDS: dict[float, tuple[str, int]] = {}
SECONDS_CACHE = 65_536


def _seconds(duration: float) -> tuple[str, int]:
    """A duration's COPY text and its share of the digest (mix_values), remembered."""
    millis = int(duration * 1000.0) if 0.0 <= duration < 1e12 else 0  # NaN, infinities: 0
    if len(_SECONDS) >= SECONDS_CACHE:  # bounded: unique durations only cost a repr
        _SECONDS.clear()
    found = _SECONDS[duration] = (repr(duration), millis)
    return found


@functools.lru_cache(maxsize=1024)
def _iso(when: datetime) -> str:
    """Timestamps repeat across a file's cases: format each once."""
    return when.isoformat()


def copy_text(value: str | None) -> str:
    """COPY text format; chained replace runs in C, str.translate with a dict does not."""
    if value is None:
        return _NULL
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def format_line(
    prefix: str,
    ordinal: int,
    case: CaseResult,
    known: KnownCases,
    new_cases: dict[int, tuple[str, str, str]],
    counts: FileCounts,
) -> str:
    """One result as a line of ``COPY results FROM STDIN`` (text format), PREFIX = run and file.

    Also folds the result into the file's digest and key set (FileCounts.note_key and
    mix_values, inlined: this runs once per result).
    """
    suite, classname, name, status, attempt, final, flaky, duration = case[:8]
    identity = (suite, classname, name)
    key = known.keys.get(identity)
    if key is None:
        key = known.key(suite, classname, name)
    if key not in known.committed and key not in known.pending:
        new_cases[key] = identity
    message = case.message
    value = key ^ _STATUS[status] ^ (attempt << 48)
    if duration is None:
        seconds = _NULL
    else:
        known_seconds = _SECONDS.get(duration)
        if known_seconds is None or not duration:  # 0.0 == -0.0, but their reprs differ
            known_seconds = _seconds(duration)
        seconds, millis = known_seconds
        value ^= millis
    if message:
        value ^= zlib.crc32(message.encode("utf-8", "replace")) << 16
    counts.digest += value * _MIX & _MASK  # the digest is kept modulo 2**64 (signed)
    keys = counts.keys
    if keys is not None:
        if final and key in keys:
            counts.repeats += 1  # one test final twice in a file: attempts (Marathon)
        keys.add(key)
        if not ordinal & 0xFFF and len(keys) > RUN_KEYS:
            counts.keys = None
    started = case.started_at
    when = _NULL if started is None else _iso(started)
    type_, trace, stdout, stderr = case[9:13]
    if message is trace is stdout is stderr is type_ is None and status == "passed":
        # Most results: no text at all.
        return (
            f"{prefix}{key}\t{ordinal}\tpassed\t{attempt}\t{'t' if final else 'f'}\t"
            f"{'t' if flaky else 'f'}\t{seconds}\t{when}\t{_NO_TEXT}{case.truncated}\t\\N\n"
        )
    fingerprint = failure_fingerprint(status, type_, message)
    return (
        f"{prefix}{key}\t{ordinal}\t{status}\t{attempt}\t{'t' if final else 'f'}\t"
        f"{'t' if flaky else 'f'}\t{seconds}\t{when}\t"
        f"{copy_text(message)}\t{copy_text(None if type_ is None else type_[:512])}\t"
        f"{copy_text(trace)}\t{copy_text(stdout)}\t{copy_text(stderr)}\t{case.truncated}\t"
        f"{_NULL if fingerprint is None else fingerprint}\n"
    )


_NO_TEXT = "\t".join([_NULL] * 5) + "\t"
# format_line reads the first thirteen fields by position.
assert CaseResult._fields[:13] == (
    "suite",
    "classname",
    "name",
    "status",
    "attempt",
    "final",
    "flaky",
    "duration",
    "message",
    "type",
    "trace",
    "stdout",
    "stderr",
)
