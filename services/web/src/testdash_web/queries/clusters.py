"""Failure clusters: failed and errored results grouped by their ingest-time fingerprint."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import abort
from sqlalchemy import Select, and_, func, or_, select
from testdash_models import db
from testdash_models.models import Result, Run, Server, TestCase
from testdash_models.models.types import utcnow

from testdash_web.paging import BIGINT, Page, decode_cursor, page_of

DEFAULT_DAYS = 14
MAX_DAYS = 366
MESSAGE_CHARS = 500


def _runs(server: str | None, since: datetime) -> Select[Any]:
    """Ids of the runs started since SINCE (on SERVER): the clusters' scope."""
    stmt = select(Run.id).where(Run.started_at >= since)
    if server:
        stmt = stmt.join(Server, Server.id == Run.server_id).where(Server.name == server)
    return stmt


def _figures() -> tuple[Any, ...]:
    """What a cluster shows besides its failures: tests, servers, runs, first/last seen, sample."""
    return (
        func.count(func.distinct(Result.test_case_id)).label("tests"),
        func.count(func.distinct(Run.server_id)).label("servers"),
        func.count(func.distinct(Result.run_id)).label("runs"),
        func.min(Run.started_at).label("first_seen"),
        func.max(Run.started_at).label("last_seen"),
        func.max(Result.id).label("sample_id"),
    )


def clusters(server: str | None, days: int, cursor: str | None, limit: int) -> Page[Any]:
    """Fingerprints of the period's failures, most failures first, with a sample: two queries."""
    since = utcnow() - timedelta(days=days)
    failures = func.count()  # count(*): ix_results_run_fingerprint answers from the index alone
    fingerprint: Any = Result.fingerprint
    stmt = (
        select(
            fingerprint.label("fingerprint"),
            failures.label("failures"),
            *_figures(),
        )
        .join(Run, Run.id == Result.run_id)
        .where(Result.fingerprint.is_not(None), Result.run_id.in_(_runs(server, since)))
        .group_by(fingerprint)
    )
    key = decode_cursor(cursor, (int, int))
    if key is not None:
        stmt = stmt.having(or_(failures < key[0], and_(failures == key[0], fingerprint > key[1])))
    rows = db.session.execute(stmt.order_by(failures.desc(), fingerprint).limit(limit + 1)).all()
    page = page_of(rows, limit, lambda row: (row.failures, row.fingerprint))
    samples = _samples([row.sample_id for row in page.items])
    return Page([_with_sample(row, samples) for row in page.items], page.next_cursor)


NO_SAMPLE = {"type": None, "message": None, "sample_test": None}


def _with_sample(row: Any, samples: dict[int, dict[str, Any]]) -> SimpleNamespace:
    return SimpleNamespace(**row._mapping, **samples.get(row.sample_id, NO_SAMPLE))


def _samples(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Type, message start and test name of each sample result (asked even for none)."""
    rows = db.session.execute(
        select(
            Result.id,
            Result.type,
            func.substr(Result.message, 1, MESSAGE_CHARS).label("message"),
            TestCase.name,
        )
        .outerjoin(TestCase, TestCase.id == Result.test_case_id)
        .where(Result.id.in_(ids))
    ).all()
    return {r.id: {"type": r.type, "message": r.message, "sample_test": r.name} for r in rows}


def cluster(fingerprint: int) -> SimpleNamespace:
    """One fingerprint's figures over all time with a sample, or a 404: two queries."""
    if not -BIGINT <= fingerprint < BIGINT:
        abort(404)
    row = db.session.execute(
        select(
            func.count(Result.id).label("failures"),
            *_figures(),
            Result.fingerprint,
        )
        .join(Run, Run.id == Result.run_id)
        .where(Result.fingerprint == fingerprint)
        .group_by(Result.fingerprint)
    ).first()
    if row is None:
        abort(404, description=f"no failures with fingerprint {fingerprint}")
    return _with_sample(row, _samples([row.sample_id]))


def failures(fingerprint: int, cursor: str | None, limit: int) -> Page[Any]:
    """The cluster's failures, newest run first, with test, run and server."""
    stmt = (
        select(
            Result.id,
            Result.run_id,
            Result.test_case_id,
            Result.status,
            Result.attempt,
            Result.type,
            func.substr(Result.message, 1, MESSAGE_CHARS).label("message"),
            TestCase.name,
            TestCase.classname,
            Run.run_dir,
            Run.started_at,
            Server.name.label("server"),
        )
        .join(Run, Run.id == Result.run_id)
        .join(Server, Server.id == Run.server_id)
        .outerjoin(TestCase, TestCase.id == Result.test_case_id)
        .where(Result.fingerprint == fingerprint)
    )
    key = decode_cursor(cursor, (int, int))
    if key is not None:
        stmt = stmt.where(
            or_(Result.run_id < key[0], and_(Result.run_id == key[0], Result.id < key[1]))
        )
    # (run_id, id) descending: the order ix_results_fingerprint (fingerprint, run_id) gives.
    rows = db.session.execute(
        stmt.order_by(Result.run_id.desc(), Result.id.desc()).limit(limit + 1)
    ).all()
    return page_of(rows, limit, lambda row: (row.run_id, row.id))
