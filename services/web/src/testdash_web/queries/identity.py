"""A test's history across renames: which ids, and until when each counted."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy import ColumnElement, and_, or_, select
from testdash_models import db
from testdash_models.identity import Identity, identities
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
