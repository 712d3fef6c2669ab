"""The one-result-element fast path of ``junit_case.results`` gives what the general path does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from testdash_engine.formats.junit_case import Case, Outcome, _attempts, results
from testdash_engine.model import Limits
from testdash_engine.textcap import CappedText

LIMITS = Limits(message=40, trace=200, output=100, name=20)
LONG = "x" * 30


@pytest.mark.parametrize(
    ("status", "attrib", "trace", "out", "err"),
    [
        ("failed", {"message": "boom", "type": "AssertionError"}, "line one\nline two", None, None),
        ("failed", {}, "  first line of the trace\n  at Foo.bar", "printed", None),
        ("error", {"message": "m" * 100, "type": "T" * 50}, "t" * 500, "o" * 300, "e"),
        ("skipped", {"message": "not on this platform"}, "", None, None),
        ("skipped", {}, "", None, "warning"),
    ],
)
@pytest.mark.parametrize("names", [("Cls", "test_it"), (LONG, LONG), ("", "")])
def test_single_outcome_fast_path_matches_the_attempts_path(status, attrib, trace, out, err, names):
    def case() -> Case:
        made = Case("suite", 3, {"classname": names[0], "name": names[1], "time": "1.25"},
                    datetime(2026, 1, 2, tzinfo=UTC))  # fmt: skip
        outcome = Outcome(status, attrib, LIMITS, None)
        if trace:
            outcome.trace.add(trace)
        made.outcomes.append(outcome)
        for text, field in ((out, "stdout"), (err, "stderr")):
            if text is not None:
                capped = CappedText(LIMITS.output)
                capped.add(text)
                setattr(made, field, capped)
        return made

    assert results(case(), LIMITS) == list(_attempts(case(), LIMITS))
