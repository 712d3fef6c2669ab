"""Conformance against the shared public corpus: the checks, runnable alone.

``uv run python -m tests.engine.corpus [FORMAT ...]`` prints the problems for some
formats (manifest ``format`` column: junit, nunit, xunit, trx, tap, ctrf, allure,
robot, cucumber, other); ``test_corpus.py`` runs it over every file.
"""

from __future__ import annotations

import csv
import os
import pathlib
import re
from collections import Counter

from testdash_engine.formats import ReportReader, summarize
from testdash_engine.model import CaseResult, ParseError

# CI has shared/ beside the clone; TESTDASH_CORPUS points elsewhere.
CORPUS = pathlib.Path(
    os.environ.get("TESTDASH_CORPUS")
    or pathlib.Path(__file__).resolve().parents[3] / "shared" / "corpus"
)
MANIFEST = CORPUS / "manifest.tsv"

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
    # NUnit/xUnit/TRX (docs/formats.md, ".NET"): the source converts NUnit 3 with NUnit's JUnit XSLT,
    # which makes every result="Failed" a failure; label="Error"/"Invalid" is an error for us.
    "publish-unit-test-result-action/clicketyclackety.xml": "NUnit 3 label=Error is an error",
    "publish-unit-test-result-action/timewarpinc.xml": "NUnit 3 label=Error is an error",
    "publish-unit-test-result-action/NUnit-issue44527.xml": "NUnit 3 label=Error/Invalid is an error",
    # The same XSLT passes result="Inconclusive"; NUnit 2 files from the same source skip it, as we do.
    "publish-unit-test-result-action/NUnit-issue33493.xml": "NUnit 3 Inconclusive is skipped",
    # Golden 3/1/0/1 is the assembly's declared totals; the file holds one passing <test>.
    "publish-unit-test-result-action/testcase2.xml": "declared counts without cases",
    # TRX outcome="Aborted" (the test host died during the test) is an error, not a skip.
    "publish-unit-test-result-action/yami_YAMILEX_2015-10-24_04_18_59.trx": "TRX Aborted is an error",
    # TAP (docs/formats.md, "TAP"). Rejected on purpose, as for every format: tap-parser takes an
    # empty stream (0 bytes, or not one TAP line) as a passing run of 0 tests.
    "tap-parser/empty.tap": "0-byte file: rejected as empty",
    "tap-parser/die.tap": "0-byte file: rejected as empty",
    "tap-parser/out_err_mix.tap": "no TAP line at all: plain text, not a report",
    # 10 points, a `1..15` plan, 5 more: tap-parser stops counting at the plan; all 15 ran.
    "tap-parser/out_of_order.tap": "test points after a mid-stream plan are kept",
    # `1..0 # SKIP` then `ok 1`: tap-parser drops the point; we keep it and note the plan.
    "tap-parser/skip-all-with-assert.tap": "a test point after a skip-all plan is kept",
    # `ok` then `1..0`: tap-parser turns the passed point into a skip.
    "tap-parser/skip-all-with-test.tap": "a late skip-all plan does not skip a passed test",
    # `not ok # SKIP`: tap-parser counts it both failed and skipped; for us it is skipped.
    "tap-parser/skip-one-fail.tap": "not ok # SKIP is skipped, not failed",
}
# For these the source also states dedup-by-name counts, which must equal ours.
DEDUP_AGREES = {
    "publish-unit-test-result-action/junit.multiresult.xml",
    "publish-unit-test-result-action/disabled.xml",
}


# Valid files that are not test reports: skipped with a "not-a-report" reason is right.
NOT_A_REPORT = ("dialect=failsafe-summary",)
# Allure 2 containers (a group's fixtures, no results), whose notes read like results': allure2's
# own tests load the testgroup/fixtures-sort files as "*-container.json".
NOT_A_REPORT_FILES = {
    "allure2/04642ae7-159a-4dcd-baef-8db98884d041-container.json",
    "allure2/f8371e62-5419-4451-99d4-ea7b3a138af9-container.json",
    "allure2/first-testgroup.json",
    "allure2/second-testgroup.json",
    "allure2/null-before-group.json",
    "allure2/fixtures-sort.json",
    "allure2/fixtures-sort2.json",
}
# Well-formed files we refuse by policy: a DTD is never read (docs/architecture.md, "Bad input").
REFUSED_AS_HOSTILE = ("features=doctype/entity",)
# Called malformed by the manifest, yet valid: a negative fixture only for another tool.
VALID_DESPITE_MANIFEST = {
    "allure2/invalid.xml": "a well-formed Allure 1 suite; allure2 tests its JUnit plugin with it",
}


def skipped_rightly(row, summary):
    """A well-formed file that is not a test report, recognised as such."""
    return (
        summary.rejection is not None
        and summary.rejection.kind == "not-a-report"
        and (
            any(marker in row["notes"] for marker in NOT_A_REPORT)
            or row["local_relpath"] in NOT_A_REPORT_FILES
        )
    )


def refused_rightly(row, summary):
    """A well-formed file with a DTD, refused as hostile without reading the DTD."""
    return (
        summary.rejection is not None
        and summary.rejection.kind == "hostile"
        and any(marker in row["notes"] for marker in REFUSED_AS_HOSTILE)
    )


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


def tap_parser_counts(path):
    """tap-parser's top-level FinalResults: count, count - pass, -, skip.

    It counts test points of the top level only (a subtest once, by its closing point),
    passes every ``ok`` and counts a not-ok TODO as not passed: for us, a skipped result
    of type TODO. Its skip is the SKIP directive.
    """
    c = Counter()
    for item in ReportReader(path):
        if isinstance(item, CaseResult) and item.suite == "":
            c["tests"] += 1
            c["failed"] += item.status == "failed" or (
                item.status == "skipped" and item.type == "TODO"
            )
            c["skipped"] += item.type == "SKIP"
    return [c["tests"], c["failed"], 0, c["skipped"]]


def ours_for(row, path):
    """Our numbers in the golden's own terms (see SOURCES.md)."""
    source = row["local_relpath"].split("/", 1)[0]
    if source == "publish-unit-test-result-action":
        c = all_rows_counts(path)  # one per result element, attempts included
        return [c["tests"], c["failed"], c["error"], c["skipped"]]
    if source == "tap-parser":
        return tap_parser_counts(path)
    summary = summarize(path)
    failed = summary.counts["failed"]
    if source == "test-reporter":  # its "failed" includes errors
        failed += summary.counts["error"]
    if source == "gotestsum":  # its JUnit writes package failures and unfinished tests as <failure>
        return [summary.tests, failed + summary.counts["error"], 0, summary.counts["skipped"]]
    return [summary.tests, failed, summary.counts["error"], summary.counts["skipped"]]


def compare(expected, ours):
    return all(e == "-" or int(e) == o for e, o in zip(expected.split("/"), ours, strict=True))


def check(formats=None):
    """Check every manifest row (of ``formats``); return the tally and the problems."""
    tally = Counter()
    problems = []
    for row in rows():
        if formats and row["format"] not in formats:
            continue
        rel = row["local_relpath"]
        path = CORPUS / rel
        summary = summarize(path)
        should_reject = row["expected"] == "malformed" and rel not in VALID_DESPITE_MANIFEST
        if skipped_rightly(row, summary):
            tally["skipped as not a report"] += 1
            continue
        if refused_rightly(row, summary):
            tally["rejected"] += 1
            continue
        if not summary.accepted and not should_reject and rel in ALLOWED_MISMATCH:
            tally["rejected"] += 1  # rejected by design: the reason is in ALLOWED_MISMATCH
            tally["golden allowed"] += 1
            continue
        if summary.accepted == should_reject:
            problems.append(f"{rel}: accepted={summary.accepted} rejection={summary.rejection}")
        tally["accepted" if summary.accepted else "rejected"] += 1
        if should_reject:
            try:
                list(ReportReader(path))
            except ParseError:
                pass
            else:
                problems.append(f"{rel}: ReportReader did not raise ParseError")
            continue
        if not row["expected_counts"] or not summary.accepted:
            continue
        golden(row, path, summary, tally, problems)
    tally["rejected"] += tally["skipped as not a report"]
    return tally, problems


def golden(row, path, summary, tally, problems):
    """Compare our counts with the source's golden, allowing documented differences."""
    rel = row["local_relpath"]
    ours = ours_for(row, path)
    if compare(row["expected_counts"], ours):
        tally["golden matched"] += 1
    elif rel in ALLOWED_MISMATCH:
        tally["golden allowed"] += 1
        dedup = re.search(r"dedup-by-name tests=(\d+/\d+/\d+/\d+)", row["expected_counts_source"])
        if rel in DEDUP_AGREES:
            c = summary.counts
            mine = [summary.tests, c["failed"], c["error"], c["skipped"]]
            if not dedup or not compare(dedup.group(1), mine):
                problems.append(f"{rel}: dedup counts {dedup and dedup.group(1)} vs {mine}")
    else:
        tally["golden mismatched"] += 1
        problems.append(f"{rel}: expected {row['expected_counts']} got {ours}")


def summary_line(tally):
    """The one line CI prints."""
    return (
        f"corpus: {tally['accepted']} accepted / {tally['rejected']} rejected "
        f"({tally['skipped as not a report']} of them not a report) / "
        f"{tally['golden matched']} golden matched / {tally['golden mismatched']} golden "
        f"mismatched ({tally['golden allowed']} allow-listed)"
    )


if __name__ == "__main__":
    import sys

    found_tally, found = check(set(sys.argv[1:]))
    print("\n".join(found))
    print(summary_line(found_tally))
