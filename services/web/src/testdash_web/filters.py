"""Query-string parameters shared by pages and the API, validated once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from testdash_models.models.ingest import RUN_STATUSES
from werkzeug.exceptions import BadRequest

from testdash_web.paging import MAX_LIMIT

TEXT_FILTERS = ("server", "site", "owner", "run_tag", "user_tag", "tag", "branch")
# The Run attributes a list may be sorted by ("-name" for descending).
RUN_SORTS = ("started_at", "duration", "total", "failed")
SORT_CHOICES = tuple(f"{sign}{name}" for name in RUN_SORTS for sign in ("-", ""))
MAX_TEXT = 256


def text_arg(args: Mapping[str, str], name: str, *, max_length: int = MAX_TEXT) -> str | None:
    """A free-text parameter, stripped; None when absent or empty."""
    value = (args.get(name) or "").strip()
    if not value:
        return None
    if len(value) > max_length or "\x00" in value:
        raise BadRequest(f"{name} must be at most {max_length} characters of text")
    return value


def limit_arg(args: Mapping[str, str], default: int = 50) -> int:
    """The page size: 1 to MAX_LIMIT."""
    raw = args.get("limit")
    if not raw:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def when_arg(args: Mapping[str, str], name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date (whole day, UTC) or an ISO 8601 date-time; naive times are UTC."""
    raw = text_arg(args, name, max_length=40)
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time(), tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a date (2026-01-31) or an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunFilters:
    """What the runs list is narrowed to and how it is sorted; every field is a URL parameter."""

    server: str | None = None
    site: str | None = None
    owner: str | None = None
    run_tag: str | None = None
    user_tag: str | None = None
    tag: str | None = None
    branch: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "-started_at"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> RunFilters:
        """Parse and validate the query string; a bad value is a 400 naming it."""
        values: dict[str, object] = {name: text_arg(args, name) for name in TEXT_FILTERS}
        status = text_arg(args, "status")
        if status is not None and status not in RUN_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(RUN_STATUSES)}")
        sort = text_arg(args, "sort") or "-started_at"
        if sort not in SORT_CHOICES:
            raise BadRequest(f"sort must be one of {', '.join(SORT_CHOICES)}")
        since = when_arg(args, "since")
        until = when_arg(args, "until", end_of_day=True)
        return cls(status=status, sort=sort, since=since, until=until, **values)  # type: ignore[arg-type]

    @property
    def sort_column(self) -> str:
        """The Run attribute the list is ordered by."""
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        """Whether the sort is descending."""
        return self.sort.startswith("-")

    def args(self, raw: Mapping[str, str] | None = None) -> dict[str, str]:
        """The non-default parameters, as given, to build shareable URLs."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "sort" and value == "-started_at"):
                continue
            if raw is not None and f.name in ("since", "until"):
                out[f.name] = raw.get(f.name, "").strip()
            else:
                out[f.name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out

    @property
    def active(self) -> bool:
        """Whether any filter (not the sort) is set."""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "sort")
