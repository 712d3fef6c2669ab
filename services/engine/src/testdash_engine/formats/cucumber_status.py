"""A Cucumber scenario's status, message and duration, derived from its steps and hooks.

Step statuses: ``failed`` fails the scenario; ``undefined`` and ``ambiguous`` make
it an ``error`` (the suite cannot run it: a missing or doubly matched step
definition, not a failed check); ``pending`` and ``skipped`` make it ``skipped``
(work in progress, or not run after an earlier problem). A step without a result
or with an unknown status counts as skipped. The worst wins, in that order;
a scenario whose steps and hooks all passed, or that has none, passed.
"""

from __future__ import annotations

from typing import Any

from testdash_engine.model import Limits, ParseError, Status
from testdash_engine.textcap import CappedText, cap_str

_STATUS: dict[str, Status] = {
    "passed": "passed",
    "failed": "failed",
    "undefined": "error",
    "ambiguous": "error",
    "pending": "skipped",
    "skipped": "skipped",
}
_RANK: dict[Status, int] = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}


class Scenario:
    """Accumulates the steps and hooks of one scenario (background steps included)."""

    __slots__ = ("status", "_lead", "_nanos", "_timed", "_output")

    def __init__(self) -> None:
        self.status: Status = "passed"
        # The first step or hook with the deciding status: (raw status, label, error message).
        self._lead: tuple[str, str, str | None] | None = None
        self._nanos = 0.0
        self._timed = False
        self._output: list[str] = []

    def step(self, step: Any) -> None:
        """Add a step and the step hooks (cucumber-jvm AfterStep) it carries."""
        if step.__class__ is not dict:
            raise ParseError("a Cucumber step must be a JSON object")
        for hook in step.get("before") or ():
            self.hook(hook, "Before step")
        label = f"{step.get('keyword') or ''}{step.get('name') or ''}".strip()
        self._add(step, label or "step")
        output = step.get("output")
        if output.__class__ is list:
            self._output.extend(line for line in output if line.__class__ is str)
        for hook in step.get("after") or ():
            self.hook(hook, "After step")

    def hook(self, hook: Any, kind: str) -> None:
        """Add a Before/After hook."""
        if hook.__class__ is not dict:
            raise ParseError("a Cucumber hook must be a JSON object")
        match = hook.get("match")
        where = match.get("location") if match.__class__ is dict else None
        self._add(hook, f"{kind} hook {where}" if where.__class__ is str else f"{kind} hook")

    def _add(self, item: dict[str, Any], label: str) -> None:
        result = item.get("result")
        raw = result.get("status") if result.__class__ is dict else None
        raw = raw.lower() if raw.__class__ is str else "missing"
        status = _STATUS.get(raw, "skipped")
        if result.__class__ is dict:
            duration = result.get("duration")
            if duration.__class__ in (int, float) and duration >= 0:
                self._nanos += duration
                self._timed = True
        if _RANK[status] > _RANK[self.status]:
            self.status = status
            error = result.get("error_message") if result.__class__ is dict else None
            self._lead = (raw, label, error if error.__class__ is str and error.strip() else None)

    def duration(self) -> float | None:
        """Seconds: step and hook durations are nanoseconds."""
        return self._nanos / 1e9 if self._timed else None

    def outcome(self, limits: Limits) -> tuple[Status, str | None, str | None, str | None, int]:
        """Return (status, message, trace, stdout, characters cut)."""
        message = trace = stdout = None
        cut = 0
        if self._lead is not None:
            raw, label, error = self._lead
            if error is not None:
                message = next(line.strip() for line in error.split("\n") if line.strip())
                trace, cut = cap_str(error, limits.trace)
            elif raw != "skipped":
                message = f"{raw} step: {label}"
            if message is not None:
                message, more = cap_str(message, limits.message)
                cut += more
        if self._output:
            capped = CappedText(limits.output)
            for line in self._output:
                capped.add(line if line.endswith("\n") else line + "\n")
            stdout, more = capped.result()
            cut += more
        return self.status, message, trace, stdout, cut
