"""Robot Framework statuses, times and the failing-keyword trace of a test."""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from typing import Any

from testdash_engine.formats.junit_values import parse_timestamp
from testdash_engine.model import CaseResult, Limits, Status, zoned
from testdash_engine.textcap import CappedText, cap_str

# Tests are PASS, FAIL or SKIP; "NOT RUN" (keywords, dry runs) and "NOT_RUN" did not run.
STATUSES: dict[str, Status] = {
    "PASS": "passed",
    "FAIL": "failed",
    "SKIP": "skipped",
    "NOT RUN": "skipped",
    "NOT_RUN": "skipped",
}
_OLD_FORMAT = "%Y%m%d %H:%M:%S.%f"
# Keyword entries kept per test: a failing loop can hold thousands of failed iterations.
_MAX_ENTRIES = 64


def _old_time(value: str | None) -> datetime | None:
    """``20240101 12:00:00.000`` (Robot < 7, local time) as a naive datetime."""
    if not value or value == "N/A":
        return None
    for fmt in (_OLD_FORMAT, "%Y%m%d %H:%M:%S"):
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def timing(attrib: dict[str, str], tz: tzinfo) -> tuple[float | None, datetime | None]:
    """Duration in seconds and start time (``model.zoned``) from a ``<status>``, either schema."""
    if "start" in attrib or "elapsed" in attrib:  # Robot 7
        started = parse_timestamp(attrib.get("start"), tz)
        try:
            duration: float | None = float(attrib.get("elapsed") or "")
        except ValueError:
            duration = None
        if duration is not None and not (math.isfinite(duration) and duration >= 0):
            duration = None
        return duration, started
    began = _old_time(attrib.get("starttime"))
    ended = _old_time(attrib.get("endtime"))
    duration = None
    if began is not None and ended is not None and ended >= began:
        duration = (ended - began).total_seconds()
    return duration, zoned(began, tz) if began is not None else None


def _label(tag: str, attrib: Any) -> str:
    if tag != "kw":
        head = (attrib.get("type") if tag == "branch" else None) or tag
        detail = attrib.get("condition") or attrib.get("name") or attrib.get("flavor") or ""
        return f"{head.upper()} {detail}".strip()
    owner = attrib.get("owner") or attrib.get("library") or ""
    name = attrib.get("name") or ""
    label = f"{owner}.{name}" if owner and not name.startswith(f"{owner}.") else name
    kind = (attrib.get("type") or "").lower()
    return f"{kind.capitalize()}: {label}" if kind in ("setup", "teardown") else label


class Body:
    """Keywords and control structures of one test, keeping only the failing chain.

    An entry is dropped with its descendants when it closes without failing, so
    memory follows the nesting depth, not the number of keywords run.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # [level, label, failed, status text, FAIL message text]
        self.entries: list[list[Any]] = []
        self.open_at: list[int] = []

    def open(self, tag: str, attrib: Any) -> None:
        """A keyword or control structure starts."""
        if len(self.entries) >= _MAX_ENTRIES:
            self.open_at.append(-1)
            return
        self.open_at.append(len(self.entries))
        self.entries.append([len(self.open_at) - 1, _label(tag, attrib), False, None, None])

    def _current(self) -> list[Any] | None:
        index = self.open_at[-1] if self.open_at else -1
        return self.entries[index] if index >= 0 else None

    def status(self, attrib: Any) -> CappedText | None:
        """The open element's ``<status>``: returns where to put its text if it failed."""
        entry = self._current()
        if entry is None or attrib.get("status") != "FAIL":
            return None
        entry[2] = True
        capped = entry[3] = CappedText(self.limits.message)
        return capped

    def fail_message(self) -> CappedText | None:
        """A ``<msg level="FAIL">`` of the open element (Robot < 4 left status text empty)."""
        entry = self._current()
        if entry is None or entry[4] is not None:
            return None
        capped = entry[4] = CappedText(self.limits.message)
        return capped

    def close(self) -> None:
        """The open element ends; forget it unless it failed."""
        index = self.open_at.pop() if self.open_at else -1
        if index >= 0 and not self.entries[index][2]:
            del self.entries[index:]

    def trace(self) -> tuple[str | None, int]:
        """The failing chain, one indented line per keyword, capped; and the cut count."""
        chain = []
        for level, label, _, status_text, fail_text in self.entries:
            text = status_text.result()[0].strip() if status_text is not None else ""
            if not text and fail_text is not None:
                text = fail_text.result()[0].strip()
            chain.append((level, label, text.split("\n", 1)[0]))
        if not chain:
            return None, 0
        lines = []
        for index, (level, label, first) in enumerate(chain):
            # A parent repeats its failing child's message: say it once, on the deepest line.
            after = chain[index + 1] if index + 1 < len(chain) else None
            if after is not None and after[0] > level and after[2] == first:
                first = ""
            lines.append(f"{'  ' * level}{label}" + (f": {first}" if first else ""))
        return cap_str("\n".join(lines), self.limits.trace)


def teardown_failed(result: CaseResult, status: str, text: str, limits: Limits) -> CaseResult:
    """Amend a test as Robot does when its parent suite's teardown failed or skipped."""
    earlier = result.message or ""
    if status == "SKIP":
        message = f"Skipped in parent suite teardown:\n{text}"
        if earlier:
            message += f"\n\nEarlier message:\n{earlier}"
        new_status: Status = "skipped"
    else:
        also = (
            "\n\nAlso parent suite teardown failed:\n"
            if earlier
            else "Parent suite teardown failed:\n"
        )
        message = f"{earlier}{also}{text}"
        new_status = result.status if result.status == "skipped" else "failed"
    message, cut = cap_str(message, limits.message)
    return result._replace(status=new_status, message=message, truncated=result.truncated + cut)
