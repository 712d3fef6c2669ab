"""Column types and helpers shared by the model modules."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        """Store aware datetimes as UTC; naive ones are taken to be UTC already."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        """Give back aware UTC datetimes."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def source_local(
    moment: datetime | None, utc_offset: int | None, assumed_zone: str | None
) -> datetime | None:
    """MOMENT as its report wrote it: at the offset stated, else in the zone assumed; else None."""
    if moment is None:
        return None
    if utc_offset is not None:
        return moment.astimezone(timezone(timedelta(minutes=utc_offset)))
    if not assumed_zone:
        return None
    try:
        return moment.astimezone(ZoneInfo(assumed_zone))
    except (ZoneInfoNotFoundError, ValueError):
        return None
