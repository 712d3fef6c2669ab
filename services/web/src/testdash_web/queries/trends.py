"""Trends and rankings, read from the roll-ups the engine keeps (never from ``results``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Float, cast, func, literal, select
from testdash_models import db
from testdash_models.models import RunRollup, Server, TestCase, TestDaily
from testdash_models.models.types import utcnow

from testdash_web import owners
from testdash_web.queries import identity

COUNTS = ("runs", "total", "passed", "failed", "errors", "skipped", "flaky")
KINDS = ("failing", "slowest", "flaky")


@dataclass
class Point:
    """One day of one series: sums over its runs; ``tests`` is its largest run's test count."""

    day: date
    runs: int = 0
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    duration: float = 0.0
    tests: int = 0

    @property
    def iso_day(self) -> str:
        """The day as ISO 8601."""
        return self.day.isoformat()

    @property
    def pass_rate(self) -> float | None:
        """Passed over passed, failed and errors (skipped tests neither pass nor fail)."""
        ran = self.passed + self.failed + self.errors
        return self.passed / ran if ran else None


@dataclass
class Series:
    """The days of one server and run_tag (or of all a server's run tags), oldest first."""

    server: str
    run_tag: str | None
    points: list[Point] = field(default_factory=list)
    all_tags: bool = False  # the server's run tags added together (``group="server"``)


GROUPS = ("server", "run_tag")


def window_start(days: int, zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """Local midnight DAYS-1 days before today in ZONE, as UTC: the first bucket's start."""
    today = (now or utcnow()).astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    return datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)


def default_group(server: str | None, run_tag: str | None) -> str:
    """One series per server across its run tags, unless a server or run tag is chosen."""
    return "run_tag" if server or run_tag else "server"


def series(
    *,
    days: int,
    zone: ZoneInfo,
    server: str | None = None,
    run_tag: str | None = None,
    branch: str | None = None,
    group: str | None = None,
    now: datetime | None = None,
) -> list[Series]:
    """Per server and run_tag (GROUP ``run_tag``) or per server (``server``), each day in ZONE.

    One query over run roll-ups, summed by day in SQL on PostgreSQL (a day's bucket is
    ``timezone(zone, at)::date``) and in Python on SQLite, which has no time zones.
    """
    by_tag = (group or default_group(server, run_tag)) == "run_tag"
    keys = (Server.name, RunRollup.run_tag) if by_tag else (Server.name,)
    sums = [func.sum(getattr(RunRollup, name)) for name in COUNTS[1:]]
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        day: Any = cast(func.timezone(zone.key, RunRollup.at), Date)
        columns = (*keys, day, func.count(), *sums, func.sum(RunRollup.duration_sum))
        stmt = select(*columns, func.max(RunRollup.total)).group_by(*keys, day)
        stmt = stmt.order_by(*keys, day)
    else:
        day = RunRollup.at
        columns = (*keys, day, literal(1), *(getattr(RunRollup, n) for n in COUNTS[1:]))
        stmt = select(*columns, RunRollup.duration_sum, RunRollup.total)
        stmt = stmt.order_by(*keys, day)
    stmt = stmt.join(Server, Server.id == RunRollup.server_id)
    stmt = stmt.where(RunRollup.at >= window_start(days, zone, now))
    if server:
        stmt = stmt.where(Server.name == server)
    if run_tag:
        stmt = stmt.where(RunRollup.run_tag == run_tag)
    if branch:
        stmt = stmt.where(RunRollup.branch == branch)
    out: dict[tuple[str, str | None], Series] = {}
    width = len(keys)
    for row in db.session.execute(stmt):
        name, tag = row[0], row[1] if by_tag else None
        current = out.get((name, tag))
        if current is None:
            current = out[(name, tag)] = Series(name, tag, all_tags=not by_tag)
        when, runs, *counts, duration, tests = row[width:]
        when = when if postgres else when.astimezone(zone).date()
        if not current.points or current.points[-1].day != when:
            current.points.append(Point(when))
        point = current.points[-1]
        point.runs += runs
        for name_, value in zip(COUNTS[1:], counts, strict=True):
            setattr(point, name_, getattr(point, name_) + (value or 0))
        point.duration += duration or 0.0
        point.tests = max(point.tests, tests or 0)
    return list(out.values())


@dataclass
class Ranked:
    """One test's figures over the window."""

    test_case_id: int
    suite: str
    classname: str
    name: str
    executions: int
    failures: int
    flaky: int
    mean_duration: float | None
    total_duration: float
    owners: tuple[str, ...] = ()

    @property
    def failure_rate(self) -> float | None:
        """Failures per execution."""
        return self.failures / self.executions if self.executions else None


def ranking(
    kind: str,
    *,
    days: int,
    server: str | None = None,
    team: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Ranked]:
    """The top tests by failures, mean duration or flaky passes over the last DAYS UTC days.

    An old name's days before its rename count for the new name (identity.rename_days).
    """
    first = (now or utcnow()).astimezone(UTC).date() - timedelta(days=days - 1)
    timed = func.sum(TestDaily.timed)
    mean = func.sum(TestDaily.duration_sum) / cast(func.nullif(timed, 0), Float)
    renames = identity.rename_days()
    test_id, renamed = identity.counts_for(TestDaily.test_case_id, TestDaily.day, renames)
    agg = (
        select(
            test_id.label("test_case_id"),
            func.sum(TestDaily.executions).label("executions"),
            func.sum(TestDaily.failures).label("failures"),
            func.sum(TestDaily.flaky).label("flaky"),
            mean.label("mean_duration"),
            func.sum(TestDaily.duration_sum).label("total_duration"),
        )
        .select_from(TestDaily)
        .outerjoin(renames, renamed)
        .where(TestDaily.day >= first)
    )
    if server:
        server_id = select(Server.id).where(Server.name == server).scalar_subquery()
        agg = agg.where(TestDaily.server_id == server_id)
    sub = agg.group_by(test_id).subquery()
    order: dict[str, Any] = {
        "failing": (sub.c.failures.desc(), sub.c.executions.desc()),
        "slowest": (sub.c.mean_duration.desc().nulls_last(),),
        "flaky": (sub.c.flaky.desc(), sub.c.executions.desc()),
    }
    stmt = select(sub, TestCase.suite, TestCase.classname, TestCase.name).join(
        TestCase, TestCase.id == sub.c.test_case_id
    )
    if kind in ("failing", "flaky"):
        stmt = stmt.where(getattr(sub.c, "failures" if kind == "failing" else "flaky") > 0)
    if team:
        stmt = stmt.where(owners.team_clause(team, db.engine.dialect.name))
    rows = db.session.execute(stmt.order_by(*order[kind], sub.c.test_case_id).limit(limit))
    return [
        Ranked(
            r.test_case_id,
            r.suite,
            r.classname,
            r.name,
            int(r.executions),
            int(r.failures),
            int(r.flaky),
            None if r.mean_duration is None else float(r.mean_duration),
            float(r.total_duration or 0.0),
            owners.owners_of(r.suite, r.classname, r.name),
        )
        for r in rows
    ]


def test_days(test_ids: list[int], days: int, now: datetime | None = None) -> list[Any]:
    """Per UTC day, a test's executions and failures (all its names; survives pruning)."""
    first = (now or utcnow()).astimezone(UTC).date() - timedelta(days=days - 1)
    stmt = (
        select(
            TestDaily.day,
            func.sum(TestDaily.executions).label("executions"),
            func.sum(TestDaily.failures).label("failures"),
            func.sum(TestDaily.duration_sum).label("duration_sum"),
            func.sum(TestDaily.timed).label("timed"),
        )
        .where(TestDaily.test_case_id.in_(test_ids), TestDaily.day >= first)
        .group_by(TestDaily.day)
        .order_by(TestDaily.day)
    )
    return list(db.session.execute(stmt))


test_days.__test__ = False  # type: ignore[attr-defined]
