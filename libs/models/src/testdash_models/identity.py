"""Test identity across renames: the key of a name, and the aliases that join old to new.

Shared by the engine's ``alias`` command and the web's test page, so both refuse the
same mistakes (a self alias, a test renamed twice, a cycle, an unknown test).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from testdash_models.models import TestAlias, TestCase

MAX_CHAIN = 50  # renames of renames followed at most; guards against a cycle slipped in by hand


class AliasError(ValueError):
    """An alias that cannot be made; the message says why."""


def test_key(suite: str, classname: str, name: str) -> int:
    """The signed 64-bit id of a test identity (the engine's ``model.test_case_key``)."""
    digest = hashlib.blake2b(
        "\x1f".join((suite, classname, name)).encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


test_key.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass(frozen=True, slots=True)
class Identity:
    """One id a test's history is made of; results of it count only before BEFORE (if set)."""

    test_case_id: int
    before: datetime | None


def identities(session: Session, test_id: int) -> list[Identity]:
    """TEST_ID and every older name it was renamed from, with the date each stopped counting."""
    found = [Identity(test_id, None)]
    frontier: list[tuple[int, datetime | None]] = [(test_id, None)]
    seen = {test_id}
    while frontier and len(seen) < MAX_CHAIN:
        current, limit = frontier.pop()
        for alias in session.scalars(select(TestAlias).where(TestAlias.new_id == current)):
            if alias.old_id in seen:
                continue
            before = alias.effective_from if limit is None else min(limit, alias.effective_from)
            seen.add(alias.old_id)
            found.append(Identity(alias.old_id, before))
            frontier.append((alias.old_id, before))
    return found


def renamed_to(session: Session, test_id: int) -> TestAlias | None:
    """The alias taking TEST_ID to its new name, if it was renamed."""
    return session.scalars(select(TestAlias).where(TestAlias.old_id == test_id)).first()


def add_alias(
    session: Session, old_id: int, new_id: int, effective_from: datetime, created_by: str
) -> TestAlias:
    """Record that OLD_ID became NEW_ID on EFFECTIVE_FROM (flushed, not committed)."""
    if old_id == new_id:
        raise AliasError("a test cannot be an alias of itself")
    for test_id in (old_id, new_id):
        if session.get(TestCase, test_id) is None:
            raise AliasError(f"no test {test_id} has been stored")
    existing = renamed_to(session, old_id)
    if existing is not None:
        raise AliasError(f"test {old_id} is already renamed to {existing.new_id}")
    if any(i.test_case_id == new_id for i in identities(session, old_id)):
        raise AliasError(f"test {new_id} was itself renamed to {old_id}: that would be a cycle")
    alias = TestAlias(
        old_id=old_id,
        new_id=new_id,
        effective_from=effective_from,
        created_by=created_by[:256],
    )
    session.add(alias)
    session.flush()
    return alias
