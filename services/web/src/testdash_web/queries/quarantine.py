"""Muted tests: who muted what, where, until when; and which tests are muted at a moment.

A mute covers every name of its test (identity.every_name): one placed on the new name
of a renamed test also mutes results stored under the old name, and one placed before
the rename keeps muting the test under its new name. Run comparison and the run page
ask :func:`muted_test_ids` (or embed :func:`muted_ids`) so muted failures never count as new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    literal,
    literal_column,
    or_,
    select,
)
from testdash_models import db
from testdash_models.models import Quarantine, Server, TestCase
from testdash_models.models.types import utcnow

from testdash_web import owners
from testdash_web.queries.identity import every_name


def _active(at: datetime) -> ColumnElement[bool]:
    """Not yet expired or lifted at AT; a mute also covers runs from before it was made."""
    return and_(
        or_(Quarantine.expires_at.is_(None), Quarantine.expires_at > at),
        or_(Quarantine.lifted_at.is_(None), Quarantine.lifted_at > at),
    )


def _scope(server: str | None, branch: str | None) -> list[ColumnElement[bool]]:
    """A mute with no server (branch) applies to every server (branch)."""
    where: list[ColumnElement[bool]] = []
    if server is not None:
        server_id = select(Server.id).where(Server.name == server).scalar_subquery()
        where.append(or_(Quarantine.server_id.is_(None), Quarantine.server_id == server_id))
    if branch is not None:
        where.append(or_(Quarantine.branch.is_(None), Quarantine.branch == branch))
    return where


def _in_force(server: str | None, branch: str | None, at: datetime) -> Select[int, int]:
    """(key, test_case_id) of the mutes in force at AT on SERVER and BRANCH."""
    return select(Quarantine.id.label("key"), Quarantine.test_case_id).where(
        _active(at), *_scope(server, branch)
    )


def muted_ids(server: str | None, branch: str | None, at: datetime | None = None) -> Select[Any]:
    """A select of the ids muted on SERVER and BRANCH at AT, every name of each test."""
    names = every_name(_in_force(server, branch, at or utcnow()))
    return select(names.c.test_case_id).distinct()


def muted_test_ids(server: str | None, branch: str | None, at: datetime | None = None) -> set[int]:
    """Ids of the tests muted on SERVER and BRANCH at AT (default now); None matches any."""
    return set(db.session.scalars(muted_ids(server, branch, at)))


def active(
    server: str | None = None, branch: str | None = None, team: str | None = None
) -> list[tuple[Quarantine, TestCase | None, str | None]]:
    """Mutes in force now, newest first, once per name of the muted test (its own first).

    Each row is the mute, the test under that name and the mute's server name; CI that
    still runs a test under an old name finds it too.
    """
    names = every_name(_in_force(server, branch, utcnow()))
    own_name_first = case((names.c.test_case_id == Quarantine.test_case_id, 0), else_=1)
    stmt = (
        select(Quarantine, TestCase, Server.name)
        .join(names, names.c.key == Quarantine.id)
        .outerjoin(TestCase, TestCase.id == names.c.test_case_id)
        .outerjoin(Server, Server.id == Quarantine.server_id)
        .order_by(Quarantine.id.desc(), own_name_first, TestCase.name, names.c.test_case_id)
    )
    if team:
        stmt = stmt.where(owners.team_clause(team, db.engine.dialect.name))
    return [(q, t, name) for q, t, name in db.session.execute(stmt)]


def for_test(test_id: int) -> list[tuple[Quarantine, str | None]]:
    """The mutes in force now that cover the test under any of its names, with server names."""
    test = cast(literal(test_id), BigInteger)  # typed: the recursive walk's column is a bigint
    seed = select(literal_column("0", Integer).label("key"), test.label("test_case_id"))
    names = every_name(seed)
    stmt = (
        select(Quarantine, Server.name)
        .outerjoin(Server, Server.id == Quarantine.server_id)
        .where(Quarantine.test_case_id.in_(select(names.c.test_case_id)), _active(utcnow()))
        .order_by(Quarantine.id)
    )
    return [(q, name) for q, name in db.session.execute(stmt)]


def mute(
    test_id: int,
    *,
    server: str | None,
    branch: str | None,
    reason: str,
    who: str,
    expires_at: datetime | None,
) -> Quarantine:
    """Mute a test (committed); an unknown server name is a ValueError."""
    server_id = None
    if server:
        server_id = db.session.scalar(select(Server.id).where(Server.name == server))
        if server_id is None:
            raise ValueError(f"no server {server!r}")
    entry = Quarantine(
        test_case_id=test_id,
        server_id=server_id,
        branch=branch,
        reason=reason,
        created_by=who[:256],
        expires_at=expires_at,
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def lift(entry_id: int, who: str) -> Quarantine | None:
    """End a mute now (committed); None when there is no such mute."""
    entry = db.session.get(Quarantine, entry_id)
    if entry is None:
        return None
    if entry.lifted_at is None:
        entry.lifted_at, entry.lifted_by = utcnow(), who[:256]
        db.session.commit()
    return entry
