"""Attribute values of JUnit XML as the various producers write them."""

from __future__ import annotations

import math
import re
from datetime import datetime, tzinfo

from testdash_engine.model import zoned

# "1,234.5" and "12,345" use a thousands separator; "0,5" is a decimal comma.
_THOUSANDS = re.compile(r"^[+]?\d{1,3}(,\d{3})+(\.\d*)?$")

SKIP_STATUSES = frozenset({"skipped", "skip", "disabled", "notrun", "not run", "ignored"})
SKIP_RESULTS = frozenset({"skipped", "suppressed", "ignored", "notrun"})
FAIL_STATUSES = frozenset({"fail", "failed", "failure"})
ERROR_STATUSES = frozenset({"error", "errored"})


def parse_time(value: str | None) -> float | None:
    """Seconds from a ``time`` attribute; None when missing or not a number."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        text = value.strip()
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        elif text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        else:
            return None
        try:
            seconds = float(text)
        except ValueError:
            return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


# parse_time of the times seen lately, shared by all files: producers write few distinct
# ones (Surefire, Gradle and pytest write milliseconds) and a lookup costs less than float().
# A pure function's results, so sharing is safe; cleared when full, so it stays small.
TIMES: dict[str | None, float | None] = {}


def remember_time(value: str | None) -> float | None:
    """``parse_time(value)``, kept in ``TIMES`` for the next case with the same ``time``."""
    if len(TIMES) >= 4096:
        TIMES.clear()
    seconds = TIMES[value] = parse_time(value)
    return seconds


def parse_timestamp(value: str | None, default_tz: tzinfo) -> datetime | None:
    """Aware datetime from an ISO 8601 timestamp, in the offset it states (``model.zoned``).

    A naive one is read in ``default_tz`` and marked assumed; None if it is not a time.
    """
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return zoned(moment, default_tz)
