"""Runs: the filtered list, its export, one run and its files and results (run_page: its page)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import abort
from sqlalchemy import Select, func, or_, select
from testdash_models import db
from testdash_models.models import File, Result, Run, Server, TestCase

from testdash_web.filters import RunFilters
from testdash_web.paging import BIGINT, Page, decode_cursor, nulls_last_page, page_of

FAILING = ("failed", "error")
FAILURE_LIMIT = 2_000  # failed attempts in the API's run detail
KINDS: dict[str, type] = {"started_at": datetime, "duration": float, "total": int, "failed": int}


def matching(filters: RunFilters) -> Select[Run]:
    """Runs matching FILTERS, unordered."""
    stmt = select(Run)
    if filters.server:
        server_id = select(Server.id).where(Server.name == filters.server).scalar_subquery()
        stmt = stmt.where(Run.server_id == server_id)
    for name in ("site", "owner", "run_tag", "user_tag", "branch", "status"):
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(getattr(Run, name) == value)
    if filters.tag:
        stmt = stmt.where(or_(Run.run_tag == filters.tag, Run.user_tag == filters.tag))
    if filters.since:
        stmt = stmt.where(Run.started_at >= filters.since)
    if filters.until:
        stmt = stmt.where(Run.started_at < filters.until)
    return stmt


def list_runs(filters: RunFilters, cursor: str | None, limit: int) -> Page[Run]:
    """One page of runs after CURSOR, in the requested order with NULLs last."""
    key = decode_cursor(cursor, (KINDS[filters.sort_column], int))
    column = getattr(Run, filters.sort_column)
    rows = nulls_last_page(matching(filters), column, Run.id, filters.descending, key, limit + 1)
    return page_of(rows, limit, lambda run: (getattr(run, filters.sort_column), run.id))


def iter_runs(filters: RunFilters) -> Iterator[Run]:
    """Every matching run in the requested order, fetched in batches (for streamed exports)."""
    column = getattr(Run, filters.sort_column)
    order = (column.desc(), Run.id.desc()) if filters.descending else (column.asc(), Run.id.asc())
    stmt = matching(filters).order_by(*(o.nulls_last() for o in order))
    yield from db.session.execute(stmt.execution_options(yield_per=1000)).scalars()


def get_run(run_id: int) -> Run:
    """The run (with its server) or a 404."""
    if not 0 <= run_id < BIGINT:
        abort(404)
    run = db.session.get(Run, run_id)
    if run is None:
        abort(404, description=f"no run {run_id}")
    return run


def run_files(run_id: int) -> list[File]:
    """The run's result files, rejected first."""
    stmt = select(File).where(File.run_id == run_id)
    return list(db.session.scalars(stmt.order_by(File.status.desc(), File.full_name)))


def failures(run_id: int) -> list[Any]:
    """The run's failed and errored attempts with message, trace and output (capped)."""
    return list(
        db.session.execute(
            select(Result, TestCase.suite, TestCase.classname, TestCase.name)
            .outerjoin(TestCase, TestCase.id == Result.test_case_id)
            .where(Result.run_id == run_id, Result.status.in_(FAILING))
            .order_by(Result.file_id, Result.ordinal)
            .limit(FAILURE_LIMIT)
        ).all()
    )


def run_results(run_id: int, status: str | None, cursor: str | None, limit: int) -> Page[Any]:
    """A page of a run's results (every attempt) with their test's names, by result id."""
    get_run(run_id)
    stmt = (
        select(Result, TestCase.suite, TestCase.classname, TestCase.name)
        .outerjoin(TestCase, TestCase.id == Result.test_case_id)
        .where(Result.run_id == run_id)
        .order_by(Result.id)
    )
    if status:
        stmt = stmt.where(Result.status == status)
    key = decode_cursor(cursor, (int,))
    if key is not None:
        stmt = stmt.where(Result.id > key[0])
    rows = db.session.execute(stmt.limit(limit + 1)).all()
    return page_of(rows, limit, lambda row: (row[0].id,))


def runs_since(moment: datetime, limit: int) -> tuple[int, list[Run]]:
    """How many runs started since MOMENT, and the newest LIMIT of them."""
    count = db.session.scalar(select(func.count(Run.id)).where(Run.started_at >= moment))
    runs = db.session.scalars(
        select(Run).where(Run.started_at >= moment).order_by(Run.started_at.desc()).limit(limit)
    )
    return count or 0, list(runs)
