"""Comparing two runs' final results: what broke, what was fixed, what appeared and slowed down.

Also what the run picker lists: a server's run tags and its recent runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import abort
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import aliased
from testdash_models import db
from testdash_models.models import Result, Run, Server, TestCase

from testdash_web.analysis import settings
from testdash_web.queries.identity import every_name
from testdash_web.queries.quarantine import muted_ids, muted_test_ids
from testdash_web.queries.runs import get_run

FAILING = ("failed", "error")
CATEGORIES = (
    "new_failures",
    "fixed",
    "still_failing",
    "new_tests",
    "removed_tests",
    "slower",
    "muted",
)
SHOWN = 1000  # entries listed per category; the counts are always complete
MESSAGE_CHARS = 300
RECENT = 15  # runs the picker lists


@dataclass
class Change:
    """One test in a comparison: its status and duration in the base run and in the head."""

    test_case_id: int
    base_status: str | None
    head_status: str | None
    base_duration: float | None
    head_duration: float | None
    message: str | None = None
    test: TestCase | None = None
    base_test_case_id: int | None = None  # the test's id in the base run, renamed since
    base_test: TestCase | None = None

    @property
    def name(self) -> str:
        """The test's name (its id when the catalogue has no row)."""
        return self.test.name if self.test else str(self.test_case_id)

    @property
    def base_name(self) -> str | None:
        """The test's name in the base run when it was renamed since."""
        if self.base_test_case_id is None:
            return None
        return self.base_test.name if self.base_test else str(self.base_test_case_id)

    @property
    def classname(self) -> str | None:
        """The test's class."""
        return self.test.classname if self.test else None


@dataclass
class Comparison:
    """Two runs and the tests of each category, each list capped at SHOWN."""

    base: Run
    head: Run
    counts: dict[str, int] = field(default_factory=dict)
    changes: dict[str, list[Change]] = field(default_factory=dict)
    slower_factor: float = 1.5
    slower_seconds: float = 1.0


def same_series(run: Any) -> ColumnElement[bool]:
    """Runs of RUN's server and run_tag, and of its branch when it has one."""
    tag = Run.run_tag.is_(None) if run.run_tag is None else Run.run_tag == run.run_tag
    conditions = [Run.server_id == run.server_id, tag, Run.id != run.id]
    if run.branch is not None:
        conditions.append(Run.branch == run.branch)
    return and_(*conditions)


def earlier(run: Any) -> ColumnElement[bool]:
    """Runs before RUN: started earlier, or (no start time on either side) made earlier."""
    if run.started_at is None:
        return and_(Run.started_at.is_(None), Run.id < run.id)
    return or_(
        Run.started_at < run.started_at, and_(Run.started_at == run.started_at, Run.id < run.id)
    )


def previous_run(run: Run) -> Run | None:
    """The run before RUN in its series, or None."""
    stmt = (
        select(Run)
        .where(same_series(run), earlier(run))
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(1)
    )
    return db.session.scalars(stmt).first()


def muted_at(run: Run) -> tuple[str, str | None, Any]:
    """The server, branch and moment whose mutes apply to RUN's failures."""
    return run.server.name, run.branch, run.started_at or run.created_at


def since_previous(run: Run) -> Any | None:
    """The previous run's id and name with the head's new-failure count (muted left out)."""
    prev = (
        select(Run.id, Run.run_dir)
        .where(same_series(run), earlier(run))
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(1)
        .subquery()
    )
    base = aliased(Result)
    was_failing = exists().where(
        base.run_id == prev.c.id,
        base.test_case_id == Result.test_case_id,
        base.final.is_(True),
        base.status.in_(FAILING),
    )
    new = (
        select(func.count(func.distinct(Result.test_case_id)))
        .where(
            Result.run_id == run.id,
            Result.final.is_(True),
            Result.status.in_(FAILING),
            ~was_failing,
            Result.test_case_id.not_in(muted_ids(*muted_at(run))),
        )
        .scalar_subquery()
    )
    return db.session.execute(select(prev.c.id, prev.c.run_dir, new.label("new_failures"))).first()


def _finals(run_id: int) -> dict[int, Any]:
    """The run's final result per test (the last of any repeats), message cut short."""
    rows = db.session.execute(
        select(
            Result.test_case_id,
            Result.status,
            Result.duration,
            func.substr(Result.message, 1, MESSAGE_CHARS).label("message"),
        )
        .where(Result.run_id == run_id, Result.final.is_(True))
        .order_by(Result.file_id, Result.ordinal)
    ).all()
    return {row.test_case_id: row for row in rows}


def _renamed(base_id: int, gone: set[int], appeared: set[int]) -> dict[int, int]:
    """Tests of the head only (APPEARED) that are another name of one of the base only (GONE).

    By new id, the old one. One query: every name of the base run's tests
    (``identity.every_name``, renames followed both ways through any chain).
    """
    finals = select(Result.test_case_id.label("key"), Result.test_case_id).where(
        Result.run_id == base_id, Result.final.is_(True)
    )
    names = every_name(finals)
    rows = db.session.execute(
        select(names.c.key, names.c.test_case_id)
        .where(names.c.key != names.c.test_case_id)
        .order_by(names.c.key, names.c.test_case_id)
    )
    found: dict[int, int] = {}
    for was, now in rows:
        if was in gone and now in appeared and now not in found and was not in found.values():
            found[now] = was
    return found


def compare(base_id: int, head_id: int) -> Comparison:
    """BASE_ID against HEAD_ID: seven queries (runs, result sets, renames, mutes, names shown).

    A test each run has under another of its names (``testdash-engine alias``), and only
    under that one, is compared as one test under the head's name.
    """
    if base_id == head_id:
        abort(400, description="compare two different runs")
    base, head = get_run(base_id), get_run(head_id)
    analysis = settings()
    out = Comparison(base, head, slower_factor=analysis.slower_factor)
    out.slower_seconds = analysis.slower_seconds
    old, new = _finals(base_id), _finals(head_id)
    was_named = _renamed(base_id, old.keys() - new.keys(), new.keys() - old.keys())
    for now, was in was_named.items():
        old[now] = old.pop(was)
    muted = muted_test_ids(*muted_at(head))
    lists: dict[str, list[Change]] = {name: [] for name in CATEGORIES}
    for key in old.keys() | new.keys():
        change = _change(key, old.get(key), new.get(key))
        change.base_test_case_id = was_named.get(key)
        found = _categories(change, analysis.slower_factor, analysis.slower_seconds, key in muted)
        for name in found:
            lists[name].append(change)
    lists["slower"].sort(key=lambda c: -((c.head_duration or 0) - (c.base_duration or 0)))
    for name, changes in lists.items():
        out.counts[name] = len(changes)
        out.changes[name] = changes[:SHOWN] if name == "slower" else _sorted(changes)[:SHOWN]
    # Asked even when nothing changed: the page's query count stays the same whatever the data.
    shown = {c.test_case_id for changes in out.changes.values() for c in changes}
    shown |= {was_named[key] for key in shown if key in was_named}
    names = {t.id: t for t in db.session.scalars(select(TestCase).where(TestCase.id.in_(shown)))}
    for name, changes in out.changes.items():
        for c in changes:
            c.test = names.get(c.test_case_id)
            if c.base_test_case_id is not None:
                c.base_test = names.get(c.base_test_case_id)
        if name != "slower":
            changes.sort(key=lambda c: (c.name, c.test_case_id))
    return out


def _change(key: int, a: Any, b: Any) -> Change:
    """One test's final results in the base (A) and head (B); either may be missing."""
    return Change(
        key,
        a.status if a else None,
        b.status if b else None,
        a.duration if a else None,
        b.duration if b else None,
        (b.message if b else None) or (a.message if a else None),
    )


def _categories(c: Change, factor: float, seconds: float, muted: bool = False) -> list[str]:
    """The categories a change belongs to (a failing new test is new and a new failure).

    A failure of a test muted at the head's start is muted: neither new nor still failing.
    """
    was, now = c.base_status in FAILING, c.head_status in FAILING
    out = []
    if c.base_status is None:
        out.append("new_tests")
    if c.head_status is None:
        out.append("removed_tests")
    if now:
        out.append("muted" if muted else "still_failing" if was else "new_failures")
    elif was and c.head_status == "passed":
        out.append("fixed")
    if c.base_duration is not None and c.head_duration is not None:
        if (
            c.head_duration > c.base_duration * factor
            and c.head_duration - c.base_duration > seconds
        ):
            out.append("slower")
    return out


def _sorted(changes: list[Change]) -> list[Change]:
    """A stable order before the cut (names are fetched only for what is shown)."""
    return sorted(changes, key=lambda c: c.test_case_id)


def run_tags(server: str | None) -> list[str]:
    """The run tags of SERVER's runs (of every server when None), sorted."""
    stmt = select(Run.run_tag).where(Run.run_tag.is_not(None)).distinct().order_by(Run.run_tag)
    if server:
        stmt = stmt.where(Run.server_id == _server_id(server))
    return [tag for tag in db.session.scalars(stmt) if tag]


def recent_runs(server: str | None, run_tag: str | None, limit: int = RECENT) -> list[Run]:
    """The newest runs of SERVER and RUN_TAG (None: any), newest first."""
    stmt = select(Run).order_by(Run.started_at.desc().nulls_last(), Run.id.desc()).limit(limit)
    if server:
        stmt = stmt.where(Run.server_id == _server_id(server))
    if run_tag:
        stmt = stmt.where(Run.run_tag == run_tag)
    return list(db.session.scalars(stmt))


def runs_by_id(ids: set[int]) -> dict[int, Run]:
    """The runs of IDS that exist, by id: one query."""
    return {run.id: run for run in db.session.scalars(select(Run).where(Run.id.in_(ids)))}


def _server_id(name: str) -> Any:
    return select(Server.id).where(Server.name == name).scalar_subquery()
