"""A test's history across renames: which ids, and until when each counted.

Also the set-based forms other lists join against: which newer name a roll-up row of an
old name counts for (rankings), and every name of a test (mutes).
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy import (
    CTE,
    ColumnElement,
    Date,
    Select,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from testdash_models import db
from testdash_models.identity import MAX_CHAIN, Identity, identities
from testdash_models.models import Result, Run, TestAlias, TestCase

AliasRows = list[tuple[TestAlias, TestCase | None]]


def _per_request(key: str, test_id: int, make: Any) -> Any:
    """MAKE(test_id), computed once per request: a page asks more than once."""
    if not has_request_context():
        return make(test_id)
    cache: dict[tuple[str, int], Any] = request.environ.setdefault("testdash.identity", {})
    if (key, test_id) not in cache:
        cache[(key, test_id)] = make(test_id)
    return cache[(key, test_id)]


def _touching(test_id: int) -> AliasRows:
    stmt = (
        select(TestAlias, TestCase)
        .outerjoin(TestCase, TestCase.id == TestAlias.old_id)
        .where(or_(TestAlias.new_id == test_id, TestAlias.old_id == test_id))
        .order_by(TestAlias.id)
    )
    return [(alias, old) for alias, old in db.session.execute(stmt).all()]


def aliases_of(test_id: int) -> tuple[AliasRows, TestAlias | None]:
    """The renames into TEST_ID (with the old tests) and the one out of it: one query."""
    rows: AliasRows = _per_request("touching", test_id, _touching)
    into = [(alias, old) for alias, old in rows if alias.new_id == test_id]
    out = next((alias for alias, _ in rows if alias.old_id == test_id), None)
    return into, out


def history_ids(test_id: int) -> list[Identity]:
    """TEST_ID and the older names whose results before their rename belong to it."""
    if not aliases_of(test_id)[0]:
        return [Identity(test_id, None)]  # never renamed into: no walk needed
    found: list[Identity] = _per_request("ids", test_id, lambda tid: identities(db.session(), tid))
    return found


def history_clause(test_id: int) -> ColumnElement[bool]:
    """Results of the test under any of its names (an old name's only before its rename)."""
    parts: list[ColumnElement[bool]] = []
    for ident in history_ids(test_id):
        if ident.before is None:
            parts.append(Result.test_case_id == ident.test_case_id)
        else:
            parts.append(
                and_(Result.test_case_id == ident.test_case_id, Run.started_at < ident.before)
            )
    return or_(*parts)


def utc_day(moment: Any) -> ColumnElement[Any]:
    """The UTC day of a stored time, comparable with a DATE column on either backend."""
    if db.engine.dialect.name == "postgresql":
        return cast(func.timezone("UTC", moment), Date)
    return func.date(moment)  # SQLite keeps UTC times as text; its dates are ISO text too


def rename_days() -> Subquery:
    """Which UTC days of an old name's roll-ups count for a newer name, per step of a chain.

    A row (old_id, new_id, after, before): OLD_ID's days from AFTER (NULL: no bound) to
    before BEFORE belong to NEW_ID. A day counts when it ends by the rename's effective
    moment, the per-day form of "runs started before it"; through a chain the earliest
    date wins, as in :func:`testdash_models.identity.identities`, so the steps of one old
    name never overlap.
    """
    first = select(
        TestAlias.old_id,
        TestAlias.new_id,
        utc_day(TestAlias.effective_from).label("before"),
        literal_column("1").label("depth"),
    ).cte("renamed", recursive=True)
    day = utc_day(TestAlias.effective_from)
    chain = first.union_all(
        select(
            first.c.old_id,
            TestAlias.new_id,
            case((day < first.c.before, day), else_=first.c.before),
            first.c.depth + 1,
        ).where(TestAlias.old_id == first.c.new_id, first.c.depth < MAX_CHAIN)
    )
    # A longer chain's bound is this step's lower bound: on the days before it, the newer
    # name at the end of the longer chain wins.
    after = func.lead(chain.c.before).over(partition_by=chain.c.old_id, order_by=chain.c.depth)
    return select(chain.c.old_id, chain.c.new_id, after.label("after"), chain.c.before).subquery(
        "rename_days"
    )


def counts_for(test_id: Any, day: Any, renames: Subquery) -> tuple[ColumnElement[Any], Any]:
    """The id a roll-up row of TEST_ID on DAY counts for, and the join to RENAMES giving it."""
    on = and_(
        renames.c.old_id == test_id,
        day < renames.c.before,
        or_(renames.c.after.is_(None), day >= renames.c.after),
    )
    return func.coalesce(renames.c.new_id, test_id), on


def every_name(seeds: Select[int, int]) -> CTE:
    """(key, test_case_id) for each name of the tests in SEEDS (columns key, test_case_id).

    A test's names are the ones it was renamed to and the ones those were renamed from,
    whatever the dates: the tree of renames it belongs to. Two recursive walks over
    ``test_aliases`` (both indexed), one query whatever the number of tests.
    """
    forward = seeds.cte("names_forward", recursive=True)
    forward = forward.union(
        select(forward.c.key, TestAlias.new_id).where(TestAlias.old_id == forward.c.test_case_id)
    )
    names = select(forward.c.key, forward.c.test_case_id).cte("names", recursive=True)
    return names.union(
        select(names.c.key, TestAlias.old_id).where(TestAlias.new_id == names.c.test_case_id)
    )
