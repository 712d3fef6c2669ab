"""Keyset pagination: opaque cursors and the 'rows after this key' condition."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_
from testdash_models import db
from werkzeug.exceptions import BadRequest

T = TypeVar("T")
MAX_LIMIT = 500
BIGINT = 2**63


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows and the cursor of the next page (None on the last)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for a sort key; datetimes travel as ISO strings."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kinds: Sequence[type]) -> list[Any] | None:
    """The sort key a cursor holds, checked against KINDS; a bad cursor is a 400."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequest("invalid cursor") from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise BadRequest("invalid cursor")
    return [_check(value, kind) for value, kind in zip(values, kinds, strict=True)]


def _check(value: Any, kind: type) -> Any:
    if value is None:
        return None
    try:
        if kind is datetime and isinstance(value, str):
            return datetime.fromisoformat(value)
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            if -BIGINT <= value < BIGINT:
                return value
        if kind is str and isinstance(value, str) and "\x00" not in value:
            return value
    except ValueError:
        pass
    raise BadRequest("invalid cursor")


def nulls_last_page(
    stmt: Select[T],
    column: Any,
    id_column: Any,
    descending: bool,
    key: list[Any] | None,
    limit: int,
) -> list[T]:
    """Up to LIMIT rows of STMT in ``column, id`` order after KEY, NULLs last.

    Rows with a value come first in their own query, which an index on the column serves in
    either direction (``NULLS LAST`` in the ORDER BY would defeat PostgreSQL's index); only a
    page that reaches their end asks a second query for the rows without one.
    """

    def ordered(*columns: Any) -> tuple[Any, ...]:
        return tuple(c.desc() if descending else c.asc() for c in columns)

    def beyond(left: Any, right: Any) -> Any:
        return left < right if descending else left > right

    rows: list[T] = []
    if key is None or key[0] is not None:
        known = stmt.where(column.is_not(None))
        if key is not None:
            known = known.where(
                or_(beyond(column, key[0]), and_(column == key[0], beyond(id_column, key[1])))
            )
        rows = list(db.session.scalars(known.order_by(*ordered(column, id_column)).limit(limit)))
    if len(rows) < limit:
        unknown = stmt.where(column.is_(None))
        if key is not None and key[0] is None:
            unknown = unknown.where(beyond(id_column, key[1]))
        more = unknown.order_by(*ordered(id_column)).limit(limit - len(rows))
        rows += list(db.session.scalars(more))
    return rows


def after(
    column: Any, value: Any, id_column: Any, id_value: int, *, descending: bool
) -> ColumnElement[bool]:
    """Rows after (VALUE, ID_VALUE) in ``column, id`` order with NULLs last."""
    if id_value is None:
        return false()
    beyond = column < value if descending else column > value
    id_beyond = id_column < id_value if descending else id_column > id_value
    if value is None:
        return and_(column.is_(None), id_beyond)
    return or_(beyond, and_(column == value, id_beyond), column.is_(None))


def page_of(rows: Sequence[T], limit: int, key: Any) -> Page[T]:
    """Cut LIMIT+1 fetched rows to a page; KEY gives the sort key of the last row."""
    if len(rows) <= limit:
        return Page(list(rows), None)
    items = list(rows[:limit])
    return Page(items, encode_cursor(key(items[-1])))
