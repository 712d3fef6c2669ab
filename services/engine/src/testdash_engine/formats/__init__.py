"""Format registry and the file-level pipeline: read, hash, detect, parse.

Every bad file ends as a :class:`ParseError` (from :class:`ReportReader`) or a
rejected :class:`ParsedFile` (from :func:`summarize`); nothing else escapes, so
one hostile file cannot stop a batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import BinaryIO

from testdash_engine.detect import HEAD_SIZE, detect
from testdash_engine.model import (
    CaseResult,
    Detection,
    ParseContext,
    ParsedFile,
    ParseError,
    ParseIssue,
    Parser,
    Rejection,
)

# Format name (as detect.py names it) -> module under testdash_engine.formats whose
# ``parse`` reads it. Imported on first use, so a run pays only for the formats it meets.
PARSERS: dict[str, str] = {
    "junit": "junit",
    "nunit": "nunit",
    "xunit": "xunit",
    "trx": "trx",
    "tap": "tap",
    "robot": "robot",
    "allure1": "allure1",
    "allure2": "allure2",
    "ctrf": "ctrf",
    "cucumber": "cucumber",
    "gotest": "gotest",
    "jest": "jest",
    "mocha": "mocha",
    "pytest-json": "pytest_json",
    "dart": "dart",
    "rspec": "rspec",
}
_LOADED: dict[str, Parser] = {}
# JUnit dialects whose naive timestamps are UTC, not local time: jest-junit and
# mocha-junit-reporter write JavaScript's toISOString() with the "Z" cut off.
UTC_NAIVE_DIALECTS = frozenset({"jest", "mocha"})


def parser_for(fmt: str) -> Parser | None:
    """Return the parse function for a detected format, or None if there is none."""
    parser = _LOADED.get(fmt)
    if parser is None:
        module = PARSERS.get(fmt)
        if module is None:
            return None
        name = f"testdash_engine.formats.{module}"
        try:
            parser = importlib.import_module(name).parse
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            return None
        _LOADED[fmt] = parser
    return parser


def _context(ctx: ParseContext, found: Detection) -> ParseContext:
    """CTX for a file that was detected as FOUND: what its producer is known to write."""
    if found.format == "junit" and found.dialect in UTC_NAIVE_DIALECTS:
        return dataclasses.replace(ctx, default_tz=UTC)
    return ctx


class ReportReader:
    """Iterate a report file's case results while hashing and counting its bytes.

    ``sha256`` is set only once the whole file has been read, so it stays None for
    a file rejected before its end; ``size`` is always the file's size.
    """

    def __init__(self, path: str | os.PathLike[str], ctx: ParseContext | None = None) -> None:
        self.path = os.fspath(path)
        self.ctx = ctx or ParseContext()
        self.sha256: str | None = None
        self.size = 0
        self.detection: Detection | None = None
        self._hash = hashlib.sha256()

    def _chunks(self, handle: BinaryIO, first: list[bytes]) -> Iterator[bytes]:
        yield from first
        read = handle.read
        size = max(self.ctx.limits.chunk_size, 1)
        while True:
            try:
                chunk = read(size)
            except OSError as exc:
                raise ParseError(f"cannot read the file: {exc}", kind="unreadable") from None
            if not chunk:
                self.sha256 = self._hash.hexdigest()
                return
            self._hash.update(chunk)
            self.size += len(chunk)
            yield chunk

    def _head(self, read: Callable[[int], bytes]) -> list[bytes]:
        """Read at least HEAD_SIZE bytes (or the whole file) for detection."""
        chunks: list[bytes] = []
        got = 0
        size = max(self.ctx.limits.chunk_size, 1)
        while got < HEAD_SIZE:
            chunk = read(size)
            if not chunk:
                break
            self._hash.update(chunk)
            self.size += len(chunk)
            chunks.append(chunk)
            got += len(chunk)
        return chunks

    def __iter__(self) -> Iterator[CaseResult | ParseIssue]:
        """Read, detect and parse the file; raise ParseError for a bad file."""
        self._hash = hashlib.sha256()
        self.size = 0
        self.sha256 = None
        try:
            handle = open(self.path, "rb")  # closed in the finally below
        except OSError as exc:
            raise ParseError(f"cannot open the file: {exc}", kind="unreadable") from None
        try:
            try:
                first = self._head(handle.read)
            except OSError as exc:
                raise ParseError(f"cannot read the file: {exc}", kind="unreadable") from None
            found = detect(b"".join(first)[:HEAD_SIZE])
            if isinstance(found, Rejection):
                raise _rejected(found)
            self.detection = found
            parser = parser_for(found.format)
            if parser is None:
                raise ParseError(
                    f"{found.format} is recognised but not supported yet", kind="not-a-report"
                )
            try:
                yield from parser(self._chunks(handle, first), found, _context(self.ctx, found))
            except (RecursionError, MemoryError) as exc:
                raise ParseError(f"parser gave up: {type(exc).__name__}", kind="hostile") from None
            except (ParseError, GeneratorExit):
                raise
            except Exception as exc:  # a parser bug must not stop the batch either
                raise ParseError(f"parser failed: {type(exc).__name__}: {exc}") from None
            if self.sha256 is None:  # the parser stopped early: hash the rest anyway
                for _ in self._chunks(handle, []):
                    pass
        finally:
            if self.sha256 is None:
                # Rejected or abandoned before the end: still report the file's size.
                try:
                    self.size = max(self.size, os.fstat(handle.fileno()).st_size)
                except OSError:
                    pass
            handle.close()


def _rejected(rejection: Rejection) -> ParseError:
    error = ParseError(rejection.reason, line=rejection.line, kind=rejection.kind)
    return error


def summarize(path: str | os.PathLike[str], ctx: ParseContext | None = None) -> ParsedFile:
    """Parse one file into counts and issues; a bad file gives a rejected ParsedFile."""
    reader = ReportReader(path, ctx)
    summary = ParsedFile(path=os.fspath(path), size=0)
    counts = summary.counts
    attempts = flaky = 0
    try:
        for item in reader:
            if item.__class__ is CaseResult:
                attempts += 1
                if item.final:
                    counts[item.status] += 1
                    flaky += item.flaky
            else:
                summary.issues.append(item)  # type: ignore[arg-type]
    except ParseError as exc:
        summary.rejection = exc.rejection
    summary.attempts = attempts
    summary.flaky = flaky
    summary.size = reader.size
    summary.sha256 = reader.sha256
    if reader.detection is not None:
        summary.format = reader.detection.format
        summary.dialect = reader.detection.dialect
    return summary
