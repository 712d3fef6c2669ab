"""One run seen whole: duplicate files, and attempts of one test spread over several files.

A run directory often holds the same results twice (a suite written as both xunit1
and xunit2, a report copied into two folders) and some producers write one file
per attempt (Allure 2, Surefire rerun reports). Inside a file the parser numbers
attempts; across files this module does:

- A file whose bytes (SHA-256) or whose results (an order-independent digest of
  test identities, statuses and attempts) equal an earlier file's of the same run
  is stored as ``skipped`` with the reason "duplicate of ...", and its results are
  not stored: the run counts them once.
- When one test has results in several accepted files of a run, those results are
  one test's attempts: after the run's files are committed, :func:`reconcile_run`
  numbers them in time order (started_at, then file, then position), marks the last
  one final, marks it flaky when it passed after a failure or error, and recounts
  the run's totals from the final results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session
from testdash_models.models import File

from testdash_engine.model import ParseIssue, Rejection
from testdash_engine.rows import RUN_KEYS, signed

NOTES_MAX = 4000


@dataclass(slots=True)
class RunLedger:
    """What the files of one run seen so far look like, to find duplicates and repeats."""

    run_id: int
    by_sha: dict[str, str] = field(default_factory=dict)
    by_digest: dict[int, str] = field(default_factory=dict)
    keys: set[int] = field(default_factory=set)
    # Set when a test appears in two files, or when that cannot be known in memory.
    needs_reconcile: bool = False

    @classmethod
    def start(cls, run_id: int, stored: dict[str, File]) -> RunLedger:
        """A ledger seeded with the run's stored accepted files."""
        ledger = cls(run_id)
        for name, row in stored.items():
            if row.status != "accepted":
                continue
            ledger.needs_reconcile = True  # their test keys are not in memory
            if row.sha256:
                ledger.by_sha.setdefault(row.sha256, name)
            if row.results_digest is not None and row.results:
                ledger.by_digest.setdefault(row.results_digest, name)
        return ledger

    def duplicate(
        self, name: str, sha256: str | None, digest: int, results: int
    ) -> Rejection | None:
        """Why the file NAME repeats an earlier file of the run, or None when it does not."""
        same = self.by_sha.get(sha256) if sha256 else None
        if same is not None and same != name:
            return Rejection("not-a-report", f"duplicate of {same}: the same bytes")
        same = self.by_digest.get(signed(digest)) if results else None
        if same is not None and same != name:
            return Rejection(
                "not-a-report", f"duplicate of {same}: the same {results} results in another form"
            )
        return None

    def accept(
        self,
        name: str,
        sha256: str | None,
        digest: int,
        results: int,
        keys: set[int] | None,
        repeats: int = 0,
    ) -> None:
        """Remember an accepted file; KEYS None means too many to remember."""
        if repeats:
            self.needs_reconcile = True
        if sha256:
            self.by_sha.setdefault(sha256, name)
        if results:
            self.by_digest.setdefault(signed(digest), name)
        if self.needs_reconcile:
            return
        if keys is None or len(self.keys) + len(keys) > RUN_KEYS:
            self.needs_reconcile, self.keys = True, set()
        elif not self.keys.isdisjoint(keys):
            self.needs_reconcile, self.keys = True, set()
        else:
            self.keys |= keys


def format_notes(issues: Sequence[ParseIssue]) -> str | None:
    """A file's non-fatal parse notes as stored text, capped."""
    if not issues:
        return None
    lines = []
    for issue in issues[:20]:
        lines.append(issue.message + (f" (line {issue.line})" if issue.line else ""))
    if len(issues) > 20:
        lines.append(f"... and {len(issues) - 20} more")
    return "\n".join(lines)[:NOTES_MAX]


# Tests of the run with results in more than one file, or final more than once (results
# exist only for accepted files: a rejected or duplicate file's are deleted).
_REPEATED = """
    SELECT r.test_case_id FROM results r
    WHERE r.run_id = :run
    GROUP BY r.test_case_id
    HAVING count(DISTINCT r.file_id) > 1 OR sum(CASE WHEN r.final THEN 1 ELSE 0 END) > 1
"""
_RENUMBER = f"""
    WITH ranked AS (
        SELECT r.id,
               row_number() OVER w AS n,
               count(*) OVER p AS attempts,
               max(CASE WHEN r.status IN ('failed', 'error') THEN 1 ELSE 0 END) OVER p AS bad
        FROM results r
        WHERE r.run_id = :run
          AND r.test_case_id IN ({_REPEATED})
        WINDOW p AS (PARTITION BY r.test_case_id),
               w AS (PARTITION BY r.test_case_id
                     ORDER BY r.started_at IS NULL, r.started_at, r.file_id, r.ordinal)
    )
    UPDATE results SET
        attempt = ranked.n,
        final = (ranked.n = ranked.attempts),
        flaky = (ranked.n = ranked.attempts AND results.status = 'passed' AND ranked.bad = 1)
    FROM ranked WHERE results.id = ranked.id
"""
_RECOUNT = """
    UPDATE runs SET
        total = t.passed + t.failed + t.errors + t.skipped,
        passed = t.passed, failed = t.failed, errors = t.errors, skipped = t.skipped,
        flaky = t.flaky,
        status = CASE WHEN t.failed + t.errors > 0 THEN 'failed'
                      WHEN t.passed + t.skipped > 0 THEN 'passed'
                      WHEN runs.files_rejected > 0 THEN 'rejected'
                      ELSE 'empty' END
    FROM (
        SELECT coalesce(sum(CASE WHEN r.status = 'passed' THEN 1 ELSE 0 END), 0) AS passed,
               coalesce(sum(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed,
               coalesce(sum(CASE WHEN r.status = 'error' THEN 1 ELSE 0 END), 0) AS errors,
               coalesce(sum(CASE WHEN r.status = 'skipped' THEN 1 ELSE 0 END), 0) AS skipped,
               coalesce(sum(CASE WHEN r.flaky THEN 1 ELSE 0 END), 0) AS flaky
        FROM results r
        WHERE r.run_id = :run AND r.final
    ) AS t
    WHERE runs.id = :run
"""


def reconcile_run(session: Session, run_id: int) -> int:
    """Number the attempts of tests spread over several files; return how many tests had some.

    Runs in its own transaction after the run's files are committed, and recounts the
    run's totals from its final results: once a run had such tests, its totals are no
    longer the sum of its files', so a changed file cannot move them by its own delta.
    """
    repeated = session.execute(
        text(f"SELECT count(*) FROM ({_REPEATED}) AS repeated"), {"run": run_id}
    ).scalar_one()
    if repeated:
        session.execute(text(_RENUMBER), {"run": run_id})
    session.execute(text(_RECOUNT), {"run": run_id})
    session.commit()
    return int(repeated)


def settle_run(session: Session, run_id: int, reconcile: bool) -> int:
    """A run's files are all committed: reconcile it if needed, then roll it up.

    Returns how many tests had attempts in several files.
    """
    from testdash_engine.persist.rollups import update_rollups  # rollups imports models only

    tests = reconcile_run(session, run_id) if reconcile else 0
    update_rollups(session, run_id)  # after the recount: it reads the run's totals
    return tests
