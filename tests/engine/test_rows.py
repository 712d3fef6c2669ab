"""The COPY line writer folds each result into its file's digest as ``rows.mix`` does."""

from __future__ import annotations

import math

from testdash_engine.model import CaseResult
from testdash_engine.rows import _MASK, FileCounts, KnownCases, format_line, mix


def test_format_line_digest_is_the_sum_of_mix_over_its_results():
    cases = [
        CaseResult("s", "c", "ok", "passed", duration=0.012),
        CaseResult("s", "c", "ok again", "passed", duration=0.012),  # a remembered duration
        CaseResult("s", "c", "zero", "passed", duration=0.0),
        CaseResult("s", "c", "minus zero", "passed", duration=-0.0),
        CaseResult("s", "c", "none", "skipped"),
        CaseResult("s", "c", "nan", "passed", duration=math.nan),
        CaseResult("s", "c", "huge", "passed", duration=1e13),
        CaseResult("s", "c", "bad", "failed", 2, False, False, 1.5, "boom ✗", "E", "trace"),
        CaseResult("s", "c", "bad", "error", 3, True, True, 2.25, "", None, None, "out"),
    ]
    known, counts, expected = KnownCases(), FileCounts(), 0
    lines = []
    for ordinal, case in enumerate(cases):
        lines.append(format_line("1\t2\t", ordinal, case, known, {}, counts))
        expected += mix(known.key(case.suite, case.classname, case.name), case)
    assert counts.digest & _MASK == expected & _MASK
    assert [line.split("\t")[8] for line in lines[:4]] == ["0.012", "0.012", "0.0", "-0.0"]
