"""Feed XML bytes to an lxml target parser chunk by chunk, safely.

Why ``huge_tree=False`` (measured with libxml2 2.14 / lxml 6.0): with a target
parser libxml2 streams character data in pieces whatever ``huge_tree`` says, so a
300 MB text node costs a few MB. ``huge_tree=True`` only lifts limits that matter
for hostile files: it lets a 1 GB attribute value or CDATA section be built in
memory (100 MB of CDATA took 316 MB RSS). Without it libxml2 caps those at
10 MB; :func:`split_cdata` keeps long CDATA sections (Surefire writes
``system-out`` as CDATA) under that cap by closing and reopening them at chunk
boundaries, which does not change the text they carry. The splitter looks for
ASCII markers, so in a UTF-16 file a CDATA section over 10 MB is refused as
"too-large" instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

from lxml import etree

from testdash_engine.model import ParseError, RejectKind

_OPEN = b"<![CDATA["
_CLOSE = b"]]>"
_COMMENT = b"<!--"
_COMMENT_END = b"-->"
_RESUME = b"]]><![CDATA["
_NORMAL, _CDATA, _IN_COMMENT = 0, 1, 2


def make_parser(target: Any) -> etree.XMLParser:
    """Return a non-validating, non-resolving, offline XML parser feeding ``target``."""
    return etree.XMLParser(
        target=target,
        # "internal", not False: with False the target sees "&amp;" in attribute
        # values as "&#38;" (lxml 6 / libxml2 2.14). External entities stay
        # unresolved, and internal ones cannot exist: any DOCTYPE is refused.
        resolve_entities="internal",
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=False,
    )


def _next_marker(buf: bytes, pos: int, limit: int, state: int) -> tuple[int, int]:
    """Find the next state change at or after ``pos`` starting before ``limit``."""
    if state == _CDATA:
        i = buf.find(_CLOSE, pos, limit + 2)
        return (i, i + 3) if i >= 0 else (-1, -1)
    if state == _IN_COMMENT:
        i = buf.find(_COMMENT_END, pos, limit + 2)
        return (i, i + 3) if i >= 0 else (-1, -1)
    # "!" is rare in XML outside "<!" markup, and a one-byte find is a memchr: this
    # scans about ten times faster than looking for both markers over the whole chunk.
    bang = pos
    while True:
        bang = buf.find(b"!", bang + 1, limit + 1)
        if bang < 0:
            return -1, -1
        if buf[bang - 1] == 0x3C:  # "<"
            if buf.startswith(_COMMENT, bang - 1):
                return bang - 1, bang + 3
            if buf.startswith(_OPEN, bang - 1):
                return bang - 1, bang + 8


def split_cdata(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-chunk UTF-8/ASCII XML so that no CDATA section spans more than one chunk."""
    state = _NORMAL
    carry = b""
    for chunk in chunks:
        buf = carry + chunk if carry else chunk
        # Markers starting in the last 9 bytes are looked at with the next chunk.
        limit = len(buf) - len(_OPEN)
        if limit <= 0:
            carry = buf
            continue
        pos = 0
        while True:
            start, after = _next_marker(buf, pos, limit, state)
            if start < 0:
                break
            pos = after
            if state == _NORMAL:
                state = _CDATA if buf[start + 2 : start + 3] == b"[" else _IN_COMMENT
            else:
                state = _NORMAL
        cut = max(limit, pos)
        if state == _CDATA:
            # Never split a UTF-8 sequence: step back over continuation bytes.
            while cut > pos and (buf[cut] & 0xC0) == 0x80:
                cut -= 1
            if cut > pos:
                yield buf[:cut] + _RESUME
                carry = buf[cut:]
                continue
        yield buf[:cut]
        carry = buf[cut:]
    if carry:
        yield carry


def _kind_of(message: str) -> RejectKind:
    lowered = message.lower()
    if "excessive depth" in lowered or "entity" in lowered and "loop" in lowered:
        return "hostile"
    if "amplification" in lowered:
        return "hostile"
    if "too big" in lowered or "limit exceeded" in lowered or "too long" in lowered:
        return "too-large"
    return "malformed"


def syntax_error(exc: etree.LxmlError) -> ParseError:
    """Turn an lxml error into a ParseError with the line and a fitting kind."""
    line: int | None = getattr(exc, "lineno", None) or None
    message = str(getattr(exc, "msg", None) or exc) or type(exc).__name__
    return ParseError(message, line=line, kind=_kind_of(message))


def feed(parser: etree.XMLParser, chunks: Iterator[bytes]) -> Iterator[None]:
    """Feed every chunk then close; yields after each chunk so callers can drain."""
    try:
        for chunk in chunks:
            parser.feed(chunk)
            yield None
        parser.close()
    except etree.LxmlError as exc:
        raise syntax_error(exc) from None
    yield None


def stream(target: Any, chunks: Iterator[bytes]) -> Iterator[Any]:
    """Feed CHUNKS to a target parser and yield what it appends to ``target.out`` as it goes.

    A target with a ``fed()`` method has it called after each chunk, before its results
    are taken. The results of a chunk are handed on as one list and flattened by ``chain``,
    so passing on each result costs no generator step.
    """
    return chain.from_iterable(_batches(target, make_parser(target), chunks))


def _batches(target: Any, parser: etree.XMLParser, chunks: Iterator[bytes]) -> Iterator[list[Any]]:
    out = target.out
    fed = getattr(target, "fed", None)
    for _ in feed(parser, split_cdata(chunks)):
        if fed is not None:
            fed()
        if out:
            yield out  # chain has gone through it before this generator resumes
            out.clear()


class Pool:
    """A format's targets with their parsers, kept for its next file.

    lxml looks at a target's methods (and their signatures) when the target's parser
    starts its first document: 9 µs for Python methods, 60 µs for compiled ones, as much
    as parsing a file of 30 cases. A parser that finished a document starts the next
    without looking again, so a finished pair comes back here and the next file resets
    the target (``reset(ctx)``, which must leave it as new) instead of making another.
    A pair whose file failed or was not read to its end is dropped: only a parser that
    closed its document cleanly is reused.
    """

    KEEP = 4  # more than the threads that parse at once

    def __init__(self, new: Callable[[Any], Any]) -> None:
        self.new = new
        self.idle: list[tuple[Any, etree.XMLParser]] = []

    def stream(self, ctx: Any, chunks: Iterator[bytes]) -> Iterator[Any]:
        """:func:`stream` with a pooled target made by ``new(ctx)`` or reset to CTX."""
        try:
            target, parser = self.idle.pop()  # one C call: safe between threads
        except IndexError:
            target = self.new(ctx)
            parser = make_parser(target)
        else:
            target.reset(ctx)
        return chain.from_iterable(self._batches(target, parser, chunks))

    def _batches(
        self, target: Any, parser: etree.XMLParser, chunks: Iterator[bytes]
    ) -> Iterator[list[Any]]:
        yield from _batches(target, parser, chunks)
        if len(self.idle) < self.KEEP:
            self.idle.append((target, parser))
