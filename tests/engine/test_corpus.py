"""Conformance against the shared public corpus (skipped when it is not mounted)."""

from __future__ import annotations

import pytest

from tests.engine.corpus import MANIFEST, check, summary_line

pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="corpus not mounted")


def test_corpus_files_accepted_or_rejected_and_goldens_match(report_line):
    tally, problems = check()
    report_line(summary_line(tally))
    assert problems == []
    assert tally["accepted"] > 400
