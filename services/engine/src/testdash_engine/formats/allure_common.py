"""Values shared by the Allure 1 and Allure 2 parsers: statuses and epoch-millisecond times."""

from __future__ import annotations

from datetime import UTC, datetime

from testdash_engine.model import Status

# Allure's "broken" is an unexpected exception, not an assertion: our "error".
# "unknown" (and a missing or unrecognised status) means no verdict was recorded;
# Allure does not count it as a failure, so neither do we: it is "skipped".
# Allure 1's "canceled" and "pending" tests did not run.
STATUSES: dict[str, Status] = {
    "passed": "passed",
    "failed": "failed",
    "broken": "error",
    "skipped": "skipped",
    "unknown": "skipped",
    "canceled": "skipped",
    "cancelled": "skipped",
    "pending": "skipped",
    "notrun": "skipped",
}

# Far beyond any real run (year 9999) but inside datetime's range.
_MAX_MS = 253_402_300_799_000


def status_of(value: object) -> tuple[Status, str | None]:
    """Map an Allure status value; the second item explains a missing or odd one."""
    if value.__class__ is str:
        found = STATUSES.get(value.lower())
        if found is not None:
            return found, None
        return "skipped", f"unknown Allure status {str(value)[:80]!r} counted as skipped"
    if value is None:
        return "skipped", "Allure result without a status counted as skipped"
    return "skipped", f"Allure status of type {type(value).__name__} counted as skipped"


def millis(value: object) -> float | None:
    """A non-negative epoch-millisecond value from a JSON number or an XML attribute."""
    if value.__class__ is str:
        try:
            value = float(value)
        except ValueError:
            return None
    if value.__class__ not in (int, float):
        return None
    ms = float(value)
    if not 0 <= ms <= _MAX_MS:  # also refuses NaN
        return None
    return ms


def timing(start: object, stop: object) -> tuple[float | None, datetime | None]:
    """Duration in seconds and UTC start time from Allure start/stop milliseconds."""
    began = millis(start)
    ended = millis(stop)
    started_at = datetime.fromtimestamp(began / 1000, UTC) if began is not None else None
    duration = None
    if began is not None and ended is not None and ended >= began:
        duration = (ended - began) / 1000
    return duration, started_at
