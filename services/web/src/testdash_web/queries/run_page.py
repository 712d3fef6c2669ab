"""One run's page: its failures a page at a time, its suites' counts, a suite's cases.

What a person reads first comes in a fixed number of queries however big the run: a page of
each kind of failure with its attempts' text, and each suite's counts by status and time; a
small run's cases come inline, a big run's a suite at a time (``suite_cases``, keyset pages).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import abort
from sqlalchemy import Select, and_, case, false, func, or_, select, true
from testdash_models import db
from testdash_models.models import Result, Run, TestCase

from testdash_web import owners
from testdash_web.paging import decode_cursor, encode_cursor
from testdash_web.queries.runs import FAILING

STATUSES = ("passed", "failed", "error", "skipped")
SECTIONS = ("failures", "muted", "flaky")  # failing, failing but muted, passed on retry
FAILURE_PAGE = 100  # cases of each section on the run page, and per page of one
INLINE_CASES = 500  # a run of up to this many tests lists every case on its page
INLINE_ROWS = 4 * INLINE_CASES  # results (attempts included) such a page lists at most
SUITE_PAGE = 500  # cases of a suite per fragment or page

# The light columns of a result (no text): what a suite's case list shows.
CASE_COLUMNS = (
    Result.id,
    Result.test_case_id,
    Result.status,
    Result.attempt,
    Result.final,
    Result.flaky,
    Result.duration,
)
NAMES = (TestCase.suite, TestCase.classname, TestCase.name)


@dataclass
class Case:
    """One test in a run: every attempt in order and the one that counts."""

    test_case_id: int
    suite: str
    classname: str
    name: str
    attempts: list[Any] = field(default_factory=list)
    last: Any = None

    @property
    def final(self) -> Any:
        """The attempt that counts (the final one, else the last)."""
        return self.last if self.last is not None else self.attempts[-1]

    @property
    def failures(self) -> list[Any]:
        """The failed and errored attempts, whose text the run page shows."""
        return [a for a in self.attempts if a.status in FAILING]


@dataclass
class CasePage:
    """Some cases of a list in order: how many came before, how many in all, the next cursor."""

    cases: list[Case]
    start: int
    total: int
    next_cursor: str | None


@dataclass
class Suite:
    """A suite of a run: its tests' final counts by status and time, and its cases if inline."""

    name: str
    tests: int
    counts: dict[str, int]
    duration: float | None
    cases: list[Case] | None = None

    @property
    def failing(self) -> bool:
        """Whether any of its tests failed or errored."""
        return any(self.counts.get(status) for status in FAILING)


def _suite_of() -> Any:
    """The suite of the result's test, as a subquery per row: one primary-key probe each.

    Joined instead, a run of thousands of results makes PostgreSQL hash the whole catalogue
    (every test of every server), a cost that grows with ``test_cases``, not with the run.
    """
    found = select(TestCase.suite).where(TestCase.id == Result.test_case_id).scalar_subquery()
    return func.coalesce(found, "")


def _tally(status: Any, flaky: Any, duration: Any) -> dict[str, Any]:
    """Aggregates of final results: how many, by status, flaky, and their summed duration."""
    counts = {f"n_{s}": func.sum(case((status == s, 1), else_=0)) for s in STATUSES}
    return {
        "n_tests": func.count(),
        **counts,
        "n_flaky": func.sum(case((flaky.is_(True), 1), else_=0)),
        "duration_sum": func.sum(duration),
    }


def _suite(name: str, row: Any) -> Suite:
    counts = {s: int(getattr(row, f"n_{s}") or 0) for s in (*STATUSES, "flaky")}
    tests = int(row.n_tests or 0)
    return Suite(name, tests, {s: n for s, n in counts.items() if n}, row.duration_sum)


def _with_attempts(run_id: int, picked: Any, *columns: Any) -> Select[Any]:
    """COLUMNS of the picked final results and their tests' earlier attempts in the run.

    Ordered by final result, then attempt; each row carries ``final_id`` and PICKED's columns.
    The join on ``(test_case_id, run_id)`` is one probe of ``ix_results_test_case_run`` a test.
    """
    extra = [c for c in picked.c if c.name not in ("id", "test_case_id")]
    return (
        select(*columns, *NAMES, picked.c.id.label("final_id"), *extra)
        .join(
            picked,
            and_(
                Result.test_case_id == picked.c.test_case_id,
                or_(Result.id == picked.c.id, Result.final.is_(False)),
            ),
        )
        .outerjoin(TestCase, TestCase.id == Result.test_case_id)
        .where(Result.run_id == run_id)
        .order_by(picked.c.id, Result.attempt, Result.id)
    )


def _group(rows: Iterable[Any], attempt: Callable[[Any], Any]) -> dict[int, tuple[Any, Case]]:
    """Rows of ``_with_attempts`` as cases by final result id, each with its first row."""
    cases: dict[int, tuple[Any, Case]] = {}
    for row in rows:
        one = attempt(row)
        entry = cases.get(row.final_id)
        if entry is None:
            test = Case(one.test_case_id, row.suite or "", row.classname or "", row.name or "")
            entry = cases[row.final_id] = (row, test)
        entry[1].attempts.append(one)
        if one.id == row.final_id:
            entry[1].last = one
    return cases


def failure_pages(
    run_id: int,
    muted: Collection[int],
    team: str | None,
    limit: int,
    section: str | None = None,
    cursor: str | None = None,
) -> dict[str, CasePage]:
    """A page of each failure section (or of SECTION after CURSOR), attempts with text: one query.

    Sections: ``failures`` (failing in the end), ``muted`` (those of tests in MUTED) and
    ``flaky`` (passed on retry); TEAM keeps the failing ones its owners' rules give it.
    """
    key = decode_cursor(cursor, (int, int))
    failing = Result.status.in_(FAILING)
    is_muted = Result.test_case_id.in_(list(muted)) if muted else false()
    kind = case((and_(failing, is_muted), "muted"), (failing, "failures"), else_="flaky")
    owned = owners.team_clause(team, db.engine.dialect.name) if team else true()
    wanted = select(Result.id, Result.test_case_id, kind.label("section")).where(
        Result.run_id == run_id,
        Result.final.is_(True),
        or_(and_(failing, owned), Result.flaky.is_(True)),
    )
    if team:  # owners' rules match names
        wanted = wanted.outerjoin(TestCase, TestCase.id == Result.test_case_id)
    if key is not None:
        wanted = wanted.where(Result.id > key[0])
    base = wanted.subquery()
    ranked = select(
        base,
        func.row_number().over(partition_by=base.c.section, order_by=base.c.id).label("n"),
        func.count().over(partition_by=base.c.section).label("total"),
    ).subquery()
    picked = select(ranked).where(ranked.c.n <= limit)
    if section is not None:
        picked = picked.where(ranked.c.section == section)
    rows = db.session.execute(_with_attempts(run_id, picked.subquery(), Result)).all()
    start = key[1] if key is not None else 0
    found: dict[str, list[tuple[Any, Case]]] = {}
    for first, test in _group(rows, lambda row: row.Result).values():
        found.setdefault(first.section, []).append((first, test))
    pages = {}
    for name in (section,) if section else SECTIONS:
        entries = found.get(name, [])
        total = start + (entries[0][0].total if entries else 0)
        cases = [test for _, test in entries]
        more = start + len(cases) < total
        next_cursor = encode_cursor([cases[-1].final.id, start + len(cases)]) if more else None
        pages[name] = CasePage(cases, start, total, next_cursor)
    return pages


def suites(run: Run) -> list[Suite]:
    """The run's suites in report order with their counts: one query.

    A run of up to INLINE_CASES tests comes with every case (and attempt) of each suite;
    a bigger one with counts only, each suite's cases a page of ``suite_cases`` away.
    """
    if run.total <= INLINE_CASES:
        rows = db.session.execute(
            select(*CASE_COLUMNS, *NAMES)
            .outerjoin(TestCase, TestCase.id == Result.test_case_id)
            .where(Result.run_id == run.id)
            .order_by(Result.id)
            .limit(INLINE_ROWS + 1)
        ).all()
        if len(rows) <= INLINE_ROWS:
            return _inline_suites(rows)
    suite = _suite_of().label("suite")
    final = (
        select(suite, Result.id, Result.status, Result.flaky, Result.duration)
        .where(Result.run_id == run.id, Result.final.is_(True))
        .subquery()
    )
    tally = _tally(final.c.status, final.c.flaky, final.c.duration)
    counted = db.session.execute(
        select(final.c.suite, *(f.label(name) for name, f in tally.items()))
        .group_by(final.c.suite)
        .order_by(func.min(final.c.id))
    ).all()
    return [_suite(row.suite, row) for row in counted]


def _inline_suites(rows: Sequence[Any]) -> list[Suite]:
    """Every result row of a small run (by id) as suites of cases, in order of final result."""
    cases: dict[int, Case] = {}
    for row in rows:
        test = cases.get(row.test_case_id)
        if test is None:
            test = Case(row.test_case_id, row.suite or "", row.classname or "", row.name or "")
            cases[row.test_case_id] = test
        test.attempts.append(row)
        if row.final:
            test.last = row
    for test in cases.values():
        test.attempts.sort(key=lambda a: (a.attempt, a.id))
    grouped: dict[str, list[Case]] = {}
    for test in sorted(cases.values(), key=lambda c: c.final.id):
        grouped.setdefault(test.suite, []).append(test)
    out = []
    for name, members in grouped.items():
        finals = [c.final for c in members]
        counts = {s: sum(f.status == s for f in finals) for s in STATUSES}
        counts["flaky"] = sum(bool(f.flaky) for f in finals)
        timed = [f.duration for f in finals if f.duration is not None]
        counts = {s: n for s, n in counts.items() if n}
        out.append(Suite(name, len(members), counts, sum(timed) if timed else None, members))
    return out


@dataclass
class SuitePage:
    """One page of a suite's cases, with the suite's counts (None past its last case)."""

    suite: Suite | None
    page: CasePage


def suite_cases(run_id: int, name: str, cursor: str | None, limit: int) -> SuitePage:
    """A page of one suite's cases (attempts included) after CURSOR: one query; 404 if no such."""
    key = decode_cursor(cursor, (int, int))
    tally = _tally(Result.status, Result.flaky, Result.duration)
    counted = (
        select(Result.id, Result.test_case_id, *(f.over().label(n) for n, f in tally.items()))
        .where(Result.run_id == run_id, Result.final.is_(True), _suite_of() == name)
        .subquery()
    )
    picked = select(counted).order_by(counted.c.id).limit(limit)
    if key is not None:
        picked = picked.where(counted.c.id > key[0])
    rows = db.session.execute(_with_attempts(run_id, picked.subquery(), *CASE_COLUMNS)).all()
    start = key[1] if key is not None else 0
    entries = list(_group(rows, lambda row: row).values())
    if not entries:
        if key is None:
            abort(404, description=f"run {run_id} has no suite {name!r}")
        return SuitePage(None, CasePage([], start, start, None))
    summary = _suite(name, entries[0][0])
    cases = [test for _, test in entries]
    more = start + len(cases) < summary.tests
    next_cursor = encode_cursor([cases[-1].final.id, start + len(cases)]) if more else None
    return SuitePage(summary, CasePage(cases, start, summary.tests, next_cursor))
