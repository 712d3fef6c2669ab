"""JUnit targets and parsers are reused across files; no state leaks from one file to the next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from testdash_engine.formats import junit
from testdash_engine.model import Detection, Limits, ParseContext, ParseError

NESTED = b"""<testsuites><testsuite name="outer" timestamp="2026-01-02T03:04:05Z">
<testsuite name="inner"><testcase classname="C" name="a" time="1.5">
<failure message="boom" type="E">trace of a
<system-out>half-open capture"""

CLEAN = b"""<testsuite name="plain"><testcase classname="K" name="b" time="0.25"/>
<testcase classname="K" name="c"><skipped message="later"/></testcase></testsuite>"""


def parse(data: bytes, ctx: ParseContext | None = None) -> list[tuple[object, ...]]:
    results = junit.parse(iter([data]), Detection("junit"), ctx or ParseContext())
    return [tuple(result) for result in results]


@pytest.fixture
def pool():
    """The JUnit pool, emptied before and after: each test sees its own pairs."""
    junit._POOL.idle.clear()
    yield junit._POOL
    junit._POOL.idle.clear()


def test_a_cleanly_parsed_file_gives_its_pair_back_and_the_next_file_reuses_it(pool):
    first = parse(CLEAN)
    assert len(pool.idle) == 1
    target = pool.idle[0][0]
    again = parse(CLEAN)
    assert again == first
    assert pool.idle[0][0] is target  # reused, not made again
    assert [r[2] for r in first] == ["b", "c"] and [r[3] for r in first] == ["passed", "skipped"]


@pytest.mark.parametrize("cut", [40, 120, len(NESTED)])
def test_a_file_that_fails_midway_is_not_reused_and_leaks_nothing(pool, cut):
    clean = parse(CLEAN)
    pool.idle.clear()
    with pytest.raises(ParseError):
        parse(NESTED[:cut] + b"<<broken")
    assert pool.idle == []  # the broken document's parser is dropped
    assert parse(CLEAN) == clean


def test_an_abandoned_file_keeps_its_pair_and_another_file_parses_meanwhile(pool):
    two_suites = b"<testsuites>" + CLEAN + CLEAN.replace(b"plain", b"second") + b"</testsuites>"
    reading = junit.parse(
        iter([two_suites[:90], two_suites[90:]]), Detection("junit"), ParseContext()
    )
    first = next(reading)  # holds its pair while another file is parsed start to end
    assert parse(CLEAN) == parse(CLEAN)
    rest = list(reading)
    assert [r[0] for r in [first, *rest]] == ["plain", "plain", "second", "second"]


def test_a_reused_target_takes_the_new_files_context(pool):
    naive = (
        b'<testsuite name="s" timestamp="2026-01-02T03:04:05"><testcase name="abcdef"/></testsuite>'
    )
    (plain,) = parse(naive)  # the pair now has that timestamp read in UTC
    assert plain[2] == "abcdef" and plain[-1] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    east = ParseContext(limits=Limits(name=3), default_tz=timezone(timedelta(hours=2)))
    (other,) = parse(naive, east)
    assert len(pool.idle) == 1  # the same pair, with the new context's zone and caps
    assert other[-1] == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert other[2] != "abcdef" and other[13] > 0  # name cut, the cut counted
    assert parse(naive) == [plain]
