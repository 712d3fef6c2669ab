"""One test across runs, and finding tests by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort
from sqlalchemy import Select, func, select
from testdash_models import db
from testdash_models.models import Result, Run, Server, TestCase

from testdash_web.paging import BIGINT, Page, after, decode_cursor, page_of
from testdash_web.queries.identity import history_clause

FAILING = ("failed", "error")
MESSAGE_CHARS = 500


def get_test(test_id: int) -> TestCase:
    """The test case or a 404."""
    if not -BIGINT <= test_id < BIGINT:
        abort(404)
    test = db.session.get(TestCase, test_id)
    if test is None:
        abort(404, description=f"no test {test_id}")
    return test


def _history(test_id: int, server: str | None) -> Select[*tuple[Any, ...]]:
    """Final results of the test joined to their runs (the message cut short)."""
    stmt = (
        select(
            Result.id,
            Result.run_id,
            Result.status,
            Result.attempt,
            Result.flaky,
            Result.duration,
            Result.type,
            func.substr(Result.message, 1, MESSAGE_CHARS).label("message"),
            Run.started_at,
            Run.run_dir,
            Run.build,
            Run.branch,
            Server.name.label("server"),
        )
        .join(Run, Run.id == Result.run_id)
        .join(Server, Server.id == Run.server_id)
        .where(history_clause(test_id), Result.final.is_(True))
    )
    if server:
        stmt = stmt.where(Server.name == server)
    return stmt


def history(test_id: int, server: str | None, cursor: str | None, limit: int) -> Page[Any]:
    """The test's final results, newest run first."""
    stmt = _history(test_id, server).order_by(Run.started_at.desc().nulls_last(), Result.id.desc())
    key = decode_cursor(cursor, (datetime, int))
    if key is not None:
        stmt = stmt.where(after(Run.started_at, key[0], Result.id, key[1], descending=True))
    rows = db.session.execute(stmt.limit(limit + 1)).all()
    return page_of(rows, limit, lambda row: (row.started_at, row.id))


def first_failing(test_id: int, server: str | None) -> Any | None:
    """The first failing result after the test last passed (None when it passes now)."""
    last_pass = (
        select(func.max(Run.started_at))
        .join(Result, Result.run_id == Run.id)
        .join(Server, Server.id == Run.server_id)
        .where(history_clause(test_id), Result.final.is_(True), Result.status == "passed")
    )
    if server:
        last_pass = last_pass.where(Server.name == server)
    last = last_pass.scalar_subquery()
    stmt = _history(test_id, server).where(
        Result.status.in_(FAILING),
        Run.started_at.is_not(None),
        (Run.started_at > last) | last.is_(None),
    )
    return db.session.execute(stmt.order_by(Run.started_at, Result.id).limit(1)).first()


@dataclass
class MessageSpan:
    """One failure message and the stretch of runs it was seen in."""

    message: str
    type: str | None
    count: int
    first: Any
    last: Any


def message_spans(rows: list[Any]) -> list[MessageSpan]:
    """Consecutive failures with the same message folded into one span, oldest first."""
    spans: list[MessageSpan] = []
    for row in reversed(rows):
        if row.status not in FAILING:
            continue
        message = row.message or ""
        if spans and spans[-1].message == message and spans[-1].type == row.type:
            spans[-1].count += 1
            spans[-1].last = row
        else:
            spans.append(MessageSpan(message, row.type, 1, row, row))
    return spans


def escape_like(text: str) -> str:
    """TEXT as a literal inside a LIKE pattern (escape character backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_tests(query: str, cursor: str | None, limit: int) -> Page[TestCase]:
    """Tests whose name contains QUERY (any case), by id: a trigram index on PostgreSQL."""
    pattern = f"%{escape_like(query)}%"
    stmt = select(TestCase).where(TestCase.name.ilike(pattern, escape="\\"))
    key = decode_cursor(cursor, (int,))
    if key is not None:
        stmt = stmt.where(TestCase.id > key[0])
    rows = list(db.session.scalars(stmt.order_by(TestCase.id).limit(limit + 1)))
    return page_of(rows, limit, lambda test: (test.id,))
