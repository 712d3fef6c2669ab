"""Flaky tests: each server + run_tag (+ branch)'s last runs, and the tests that flip in them.

A fixed number of queries whatever the data: the windows (runs only, numbered per
group), then, for the ranking, executions, failures, flips (``lag()``) and retries
counted in the database for the tests that failed in the windows' runs; for one
test, its final results there (``ix_results_test_case_run``). Tests that always
pass are never read. docs/analytics.md says how each figure is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from testdash_models import db
from testdash_models.models import Result, Run, Server, TestCase

from testdash_web.analysis import FlakySettings, settings

FAILING = ("failed", "error")
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
        return round(self.score * self.runs, 3)

    @property
    def flaky(self) -> bool:
        """Whether any configured rule clause fired."""
        return bool(self.rules)

    @property
    def failure_rate(self) -> float:
        """Failing executions over executions."""
        return self.failures / self.runs if self.runs else 0.0


def windows(server: str | None, run_tag: str | None, branch: str | None) -> dict[Group, Window]:
    """The groups' windows (one query over runs), with each group's own settings."""
    analysis = settings()
    order = (Run.started_at.desc().nulls_last(), Run.id.desc())
    position = func.row_number().over(
        partition_by=(Run.server_id, Run.run_tag, Run.branch), order_by=order
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
    for column, value in ((Server.name, server), (Run.run_tag, run_tag), (Run.branch, branch)):
        if value is not None:
            numbered = numbered.where(column == value)
    sub = numbered.subquery()
    rows = db.session.execute(
        select(sub).where(sub.c.position <= analysis.max_window).order_by(sub.c.position)
    ).all()
    groups: dict[Group, Window] = {}
    for row in rows:
        key = (row.server_id, row.run_tag, row.branch)
        window = groups.get(key)
        if window is None:
            rules = analysis.flaky_for(row.server, row.run_tag)
            window = groups[key] = Window(row.server, row.run_tag, row.branch, rules)
        if row.position > window.settings.window:
            continue
        if row.failing > window.settings.infra_share * row.total:
            window.infra.append(row)
        else:
            window.runs.append(row)
    return groups


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


def _figures(groups: dict[Group, Window]) -> list[Any]:
    """Executions, failures, flips and retries per (test, group), counted in the database.

    Only (test, group) pairs with a failure or a retry come back; ``lag()`` finds flips.
    """
    ids = [run.id for window in groups.values() for run in window.runs]
    failing = case((Result.status.in_(FAILING), 1), else_=0)
    retried = case((Result.flaky.is_(True) | (Result.attempt > 1), 1), else_=0)
    series = (Result.test_case_id, Run.server_id, Run.run_tag, Run.branch)
    failed_once = select(Result.test_case_id).where(
        Result.run_id.in_(ids), Result.status.in_(FAILING)
    )
    executions = (
        select(
            *series,
            failing.label("failing"),
            (retried * (1 - failing)).label("retried"),
            func.lag(failing)
            .over(partition_by=series, order_by=(Run.started_at.asc().nulls_first(), Run.id))
            .label("previous"),
        )
        .join(Run, Run.id == Result.run_id)
        .where(
            Result.final.is_(True),
            Result.status != "skipped",
            Result.run_id.in_(ids),
            Result.test_case_id.in_(failed_once.distinct()),
        )
        .subquery()
    )
    e = executions.c
    flipped = case((e.previous.is_not(None) & (e.previous != e.failing), 1), else_=0)
    stmt = (
        select(
            e.test_case_id,
            e.server_id,
            e.run_tag,
            e.branch,
            func.count().label("runs"),
            func.sum(e.failing).label("failures"),
            func.sum(flipped).label("flips"),
            func.sum(e.retried).label("retries"),
        )
        .group_by(e.test_case_id, e.server_id, e.run_tag, e.branch)
        .having((func.sum(e.failing) > 0) | (func.sum(e.retried) > 0))
    )
    return list(db.session.execute(stmt).all())


def score(found: Flakiness, runs: int) -> Flakiness:
    """Apply the window's rules to FOUND's figures (RUNS executions)."""
    rules = found.window.settings
    if runs < max(rules.min_runs, 1):
        return found
    rate = found.failures / runs
    fired = {
        "flips": (found.flips >= rules.min_flips, found.flips / max(runs - 1, 1)),
        "retries": (found.retries >= rules.min_retries, found.retries / runs),
        "rate": (0 < rate and rules.rate_low <= rate <= rules.rate_high, 2 * min(rate, 1 - rate)),
    }
    clauses = [c for c in rules.rules if all(fired[rule][0] for rule in c)]
    found.rules = tuple(sorted({rule for clause in clauses for rule in clause}))
    found.score = round(max((fired[r][1] for r in found.rules), default=0.0), 4)
    return found


def ranking(
    server: str | None, run_tag: str | None, branch: str | None, limit: int
) -> list[Flakiness]:
    """The flaky tests of the matching groups by impact, with their names: three queries."""
    groups = windows(server, run_tag, branch)
    flaky = []
    for row in _figures(groups):
        found = Flakiness(row.test_case_id, groups[(row.server_id, row.run_tag, row.branch)], [])
        found.failures, found.flips, found.retries = row.failures, row.flips, row.retries
        found.executed = row.runs
        if score(found, row.runs).flaky:
            flaky.append(found)
    flaky.sort(key=lambda f: (-f.impact, -f.score, f.test_case_id))
    top = flaky[:limit]
    # Asked even for no ids: a page's query count stays the same whatever the data.
    ids = {f.test_case_id for f in top}
    tests = {t.id: t for t in db.session.scalars(select(TestCase).where(TestCase.id.in_(ids)))}
    for f in top:
        f.test = tests.get(f.test_case_id)
    return top


def for_test(test: TestCase, server: str | None) -> list[Flakiness]:
    """One test's flakiness in every group it ran in, flakiest first: two queries."""
    found = analyse(windows(server, None, None), [test.id])
    for f in found:
        f.test = test
    return sorted(found, key=lambda f: (-f.score, -f.runs, f.window.server))
