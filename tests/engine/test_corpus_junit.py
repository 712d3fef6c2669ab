"""Conformance against the shared public corpus (skipped when it is not mounted)."""

from __future__ import annotations

import csv
import os
import pathlib
import re
from collections import Counter

import pytest
from testdash_engine.formats import ReportReader, summarize
from testdash_engine.model import CaseResult, ParseError

# CI has shared/ beside the clone; TESTDASH_CORPUS points elsewhere.
CORPUS = pathlib.Path(
    os.environ.get("TESTDASH_CORPUS")
    or pathlib.Path(__file__).resolve().parents[3] / "shared" / "corpus"
)
MANIFEST = CORPUS / "manifest.tsv"

pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="corpus not mounted")

# Files whose stated golden differs from our counts for a documented reason.
ALLOWED_MISMATCH = {
    # Counts one run per result element; this file puts <skipped/>, <failure> and <error> in one
    # testcase. We keep one result per testcase (error > failure > skipped); the source's own
    # dedup-by-name numbers, checked below, agree with ours.
    "publish-unit-test-result-action/junit.multiresult.xml": "one result per testcase",
    # The golden comes from the suite's tests/failures/skipped attributes, but the file has no
    # <testcase> at all: we count test cases, not declarations.
    "publish-unit-test-result-action/no-cases-but-tests.xml": "declared counts without cases",
    # Five <testcase status="disabled"/>: the source's per-element runs ignore the status
    # attribute (runs_skip=0); we count them skipped, as its dedup numbers (31/19/1/5) do.
    "publish-unit-test-result-action/disabled.xml": "status=disabled is skipped",
}
# For these the source also states dedup-by-name counts, which must equal ours.
DEDUP_AGREES = {
    "publish-unit-test-result-action/junit.multiresult.xml",
    "publish-unit-test-result-action/disabled.xml",
}


def rows():
    with MANIFEST.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def all_rows_counts(path):
    """Counts over every yielded row (attempts included): tests/failed/error/skipped."""
    counts = Counter()
    for item in ReportReader(path):
        if isinstance(item, CaseResult):
            counts["tests"] += 1
            counts[item.status] += 1
    return counts


def ours_for(row, path):
    """Our numbers in the golden's own terms (see SOURCES.md)."""
    source = row["local_relpath"].split("/", 1)[0]
    if source == "publish-unit-test-result-action":
        c = all_rows_counts(path)  # one per result element, attempts included
        return [c["tests"], c["failed"], c["error"], c["skipped"]]
    summary = summarize(path)
    failed = summary.counts["failed"]
    if source == "test-reporter":  # its "failed" includes errors
        failed += summary.counts["error"]
    return [summary.tests, failed, summary.counts["error"], summary.counts["skipped"]]


def compare(expected, ours):
    return all(e == "-" or int(e) == o for e, o in zip(expected.split("/"), ours, strict=True))


def test_corpus_junit_files_accepted_or_rejected_and_goldens_match(report_line):
    tally = Counter()
    problems = []
    for row in rows():
        if row["format"] != "junit":
            continue
        rel = row["local_relpath"]
        path = CORPUS / rel
        summary = summarize(path)
        should_reject = row["expected"] == "malformed"
        if summary.accepted == should_reject:
            problems.append(f"{rel}: accepted={summary.accepted} rejection={summary.rejection}")
        tally["accepted" if summary.accepted else "rejected"] += 1
        if should_reject:
            with pytest.raises(ParseError):
                list(ReportReader(path))
            continue
        if not row["expected_counts"]:
            continue
        ours = ours_for(row, path)
        if compare(row["expected_counts"], ours):
            tally["golden matched"] += 1
        elif rel in ALLOWED_MISMATCH:
            tally["golden allowed"] += 1
            dedup = re.search(
                r"dedup-by-name tests=(\d+/\d+/\d+/\d+)", row["expected_counts_source"]
            )
            if rel in DEDUP_AGREES:
                assert dedup, rel
                c = summary.counts
                mine = [summary.tests, c["failed"], c["error"], c["skipped"]]
                assert compare(dedup.group(1), mine), (rel, dedup.group(1), mine)
        else:
            tally["golden mismatched"] += 1
            problems.append(f"{rel}: expected {row['expected_counts']} got {ours}")
    report_line(
        f"corpus junit: {tally['accepted']} accepted / {tally['rejected']} rejected / "
        f"{tally['golden matched']} golden matched / {tally['golden mismatched']} golden "
        f"mismatched ({tally['golden allowed']} allow-listed)"
    )
    assert problems == []
    assert tally["accepted"] > 150


def test_corpus_other_formats_never_raise():
    kinds = Counter()
    for row in rows():
        if row["format"] == "junit":
            continue
        summary = summarize(CORPUS / row["local_relpath"])
        kinds[summary.rejection.kind if summary.rejection else "accepted"] += 1
        if summary.rejection is not None:
            assert summary.rejection.reason
    assert sum(kinds.values()) > 300
