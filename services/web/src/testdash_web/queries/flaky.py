"""Flaky tests: each server + run_tag (+ branch)'s last runs, and the tests that flip in them.

The ranking reads what the engine keeps (``flaky_series``, ``flaky_tests``: each
series' flaky tests, counted when its runs settle): two queries whatever the data, two
more when some series were counted with settings other than this app's, which are
then counted here from their windows' results (the engine's very functions,
``testdash_models.flaky``). One test's flakiness is read from its own final results
in the windows of the series it ran in (``ix_results_test_case_run``): two queries.
docs/analytics.md says how each figure is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from testdash_models import db
from testdash_models.flaky import (
    FAILING,
    NEWEST_FIRST,
    FlakySettings,
    figures,
    impact,
    judge,
)
from testdash_models.models import FlakySeries, FlakyTest, Result, Run, Server, TestCase

from testdash_web.analysis import settings

Group = tuple[int, str | None, str | None]  # server id, run_tag, branch


@dataclass
class Window:
    """One group's last runs, newest first; infrastructure failures are left out of RUNS."""

    server: str
    run_tag: str | None
    branch: str | None
    settings: FlakySettings
    runs: list[Any] = field(default_factory=list)
    infra: list[Any] = field(default_factory=list)


@dataclass
class Execution:
    """A test's final result in one run of a window, and what it proves."""

    run_id: int
    run_dir: str
    started_at: datetime | None
    status: str
    attempt: int
    retried: bool  # passed on a retry within the run
    flipped: bool  # passed where the previous execution failed, or the reverse


@dataclass
class Flakiness:
    """One test in one group's window: its figures, score and the runs that prove them."""

    test_case_id: int
    window: Window
    executions: list[Execution]
    failures: int = 0
    flips: int = 0
    retries: int = 0
    score: float = 0.0
    rules: tuple[str, ...] = ()
    test: TestCase | None = None

    @property
    def name(self) -> str | None:
        """The test's name, when the catalogue has it."""
        return self.test.name if self.test else None

    @property
    def classname(self) -> str | None:
        """The test's class."""
        return self.test.classname if self.test else None

    @property
    def suite(self) -> str | None:
        """The test's suite."""
        return self.test.suite if self.test else None

    @property
    def rule_names(self) -> str:
        """The rules that fired, comma-separated."""
        return ",".join(self.rules)

    executed: int | None = None  # counted in SQL when the executions are not read

    @property
    def runs(self) -> int:
        """Executions: window runs with a final passed, failed or errored result."""
        return len(self.executions) if self.executed is None else self.executed

    @property
    def impact(self) -> float:
        """Flakiness times executions: how much of the suite's noise this test makes."""
        return impact(self.score, self.runs)

    @property
    def flaky(self) -> bool:
        """Whether any configured rule clause fired."""
        return bool(self.rules)

    @property
    def failure_rate(self) -> float:
        """Failing executions over executions."""
        return self.failures / self.runs if self.runs else 0.0


def windows(
    server: str | None,
    run_tag: str | None,
    branch: str | None,
    among: Select[int, str | None, str | None] | None = None,
) -> dict[Group, Window]:
    """The groups' windows (one query over runs), with each group's own settings.

    AMONG, when given, selects (server_id, run_tag, branch) rows: only those groups.
    """
    analysis = settings()
    position = func.row_number().over(
        partition_by=(Run.server_id, Run.run_tag, Run.branch), order_by=NEWEST_FIRST
    )
    numbered = (
        select(
            Run.id,
            Run.server_id,
            Run.run_tag,
            Run.branch,
            Run.run_dir,
            Run.started_at,
            Run.total,
            (Run.failed + Run.errors).label("failing"),
            Server.name.label("server"),
            position.label("position"),
        )
        .join(Server, Server.id == Run.server_id)
        .where(Run.total > 0)
    )
    if among is not None:
        groups = among.subquery()
        numbered = numbered.join(
            groups,
            (groups.c.server_id == Run.server_id)
            & Run.run_tag.is_not_distinct_from(groups.c.run_tag)
            & Run.branch.is_not_distinct_from(groups.c.branch),
        )
    for column, value in ((Server.name, server), (Run.run_tag, run_tag), (Run.branch, branch)):
        if value is not None:
            numbered = numbered.where(column == value)
    sub = numbered.subquery()
    rows = db.session.execute(
        select(sub).where(sub.c.position <= analysis.max_window).order_by(sub.c.position)
    ).all()
    found: dict[Group, Window] = {}
    for row in rows:
        key = (row.server_id, row.run_tag, row.branch)
        window = found.get(key)
        if window is None:
            rules = analysis.flaky_for(row.server, row.run_tag)
            window = found[key] = Window(row.server, row.run_tag, row.branch, rules)
        if row.position > window.settings.window:
            continue
        if window.settings.infra(row.total, row.failing):
            window.infra.append(row)
        else:
            window.runs.append(row)
    return found


def evaluate(test_case_id: int, window: Window, finals: dict[int, Any]) -> Flakiness:
    """Score one test in one window from its final results by run id."""
    result = Flakiness(test_case_id, window, [])
    previous: str | None = None
    for run in reversed(window.runs):  # oldest first
        row = finals.get(run.id)
        if row is None or row.status == "skipped":
            continue
        failing = row.status in FAILING
        outcome = "fail" if failing else "pass"
        retried = not failing and bool(row.flaky or row.attempt > 1)
        flipped = previous is not None and previous != outcome
        result.failures += failing
        result.flips += flipped
        result.retries += retried
        result.executions.append(
            Execution(
                run.id, run.run_dir, run.started_at, row.status, row.attempt, retried, flipped
            )
        )
        previous = outcome
    return score(result, result.runs)


def _finals(run_ids: list[int], test_ids: Iterable[int]) -> list[Any]:
    """Final results in RUN_IDS of TEST_IDS (``ix_results_test_case_run``)."""
    stmt = select(
        Result.test_case_id, Result.run_id, Result.status, Result.attempt, Result.flaky
    ).where(
        Result.final.is_(True),
        Result.run_id.in_(run_ids),
        Result.test_case_id.in_(list(test_ids)),
    )
    return list(db.session.execute(stmt).all())


def analyse(groups: dict[Group, Window], test_ids: Iterable[int]) -> list[Flakiness]:
    """TEST_IDS' executions in every window, scored, with the runs that prove it."""
    by_run = {run.id: key for key, window in groups.items() for run in window.runs}
    finals: dict[tuple[int, Group], dict[int, Any]] = {}
    for row in _finals(list(by_run), test_ids):
        finals.setdefault((row.test_case_id, by_run[row.run_id]), {})[row.run_id] = row
    return [evaluate(test, groups[key], rows) for (test, key), rows in finals.items()]


def score(found: Flakiness, runs: int) -> Flakiness:
    """Apply the window's rules to FOUND's figures (RUNS executions)."""
    found.rules, found.score = judge(
        found.window.settings, runs, found.failures, found.flips, found.retries
    )
    return found


def counted(groups: dict[Group, Window]) -> list[Flakiness]:
    """The flaky tests of GROUPS' windows, counted from their results: one query."""
    ids = [run.id for window in groups.values() for run in window.runs]
    flaky = []
    for row in figures(db.session(), ids):
        found = Flakiness(row.test_case_id, groups[(row.server_id, row.run_tag, row.branch)], [])
        found.failures, found.flips, found.retries = row.failures, row.flips, row.retries
        found.executed = row.runs
        if score(found, row.runs).flaky:
            flaky.append(found)
    return flaky


def kept_ranking(series: dict[int, Any], limit: int) -> list[Flakiness]:
    """The LIMIT flakiest tests the engine kept for SERIES (their rows by id): one query."""
    analysis = settings()
    top = (
        select(FlakyTest)
        .where(FlakyTest.series_id.in_(list(series)))
        .order_by(FlakyTest.impact.desc(), FlakyTest.score.desc(), FlakyTest.test_case_id.desc())
        .limit(limit)
    )
    found: list[Flakiness] = []
    shown: dict[int, Window] = {}
    for row in db.session.scalars(top):
        window = shown.get(row.series_id)
        if window is None:
            s = series[row.series_id]
            rules = analysis.flaky_for(s.server, s.run_tag)
            window = shown[row.series_id] = Window(s.server, s.run_tag, s.branch, rules)
        found.append(
            Flakiness(
                row.test_case_id,
                window,
                [],
                failures=row.failures,
                flips=row.flips,
                retries=row.retries,
                score=row.score,
                rules=tuple(row.rules.split(",")),
                executed=row.executions,
            )
        )
    return found


def ranking(
    server: str | None, run_tag: str | None, branch: str | None, limit: int
) -> list[Flakiness]:
    """The flaky tests of the matching groups by impact, with their names: three queries.

    Two more when a series was counted with other settings than this app's.
    """
    analysis = settings()
    filters = ((Server.name, server), (FlakySeries.run_tag, run_tag), (FlakySeries.branch, branch))
    series = (
        select(
            FlakySeries.id,
            FlakySeries.run_tag,
            FlakySeries.branch,
            FlakySeries.settings,
            Server.name.label("server"),
        )
        .join(Server, Server.id == FlakySeries.server_id)
        .where(*(column == value for column, value in filters if value is not None))
    )
    kept: dict[int, Any] = {}
    stale: list[int] = []
    for row in db.session.execute(series):
        if row.settings == analysis.flaky_for(row.server, row.run_tag).key:
            kept[row.id] = row
        else:
            stale.append(row.id)
    flaky = kept_ranking(kept, limit)
    if stale:
        recount = select(FlakySeries.server_id, FlakySeries.run_tag, FlakySeries.branch)
        flaky += counted(windows(None, None, None, recount.where(FlakySeries.id.in_(stale))))
    flaky.sort(key=lambda f: (-f.impact, -f.score, -f.test_case_id))
    top_tests = flaky[:limit]
    # Asked even for no ids: a page's query count stays the same whatever the data.
    ids = {f.test_case_id for f in top_tests}
    tests = {t.id: t for t in db.session.scalars(select(TestCase).where(TestCase.id.in_(ids)))}
    for f in top_tests:
        f.test = tests.get(f.test_case_id)
    return top_tests


def for_test(test: TestCase, server: str | None) -> list[Flakiness]:
    """One test's flakiness in every group it ran in, flakiest first: two queries."""
    ran_in = (
        select(Run.server_id, Run.run_tag, Run.branch)
        .join(Result, Result.run_id == Run.id)
        .where(Result.test_case_id == test.id)
        .distinct()
    )
    found = analyse(windows(server, None, None, ran_in), [test.id])
    for f in found:
        f.test = test
    return sorted(found, key=lambda f: (-f.score, -f.runs, f.window.server))
