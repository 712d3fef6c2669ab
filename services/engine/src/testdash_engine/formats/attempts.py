"""Number repeated runs of one test in a stream as attempts (go reruns, Dart retries).

A failed row is held until the same test runs again or the stream ends, since
only then is it known whether it was the last; a passed or skipped row is final
at once (rerunners repeat failures only), so a test run again after it passed
gives non-final rows. Memory: the held failures plus one counter per test.
"""

from __future__ import annotations

from collections.abc import Iterator

from testdash_engine.model import CaseResult


class Attempts:
    """Assign attempt, final and flaky to rows of tests that may run several times."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        self.done: set[tuple[str, str, str]] = set()
        self.held: dict[tuple[str, str, str], CaseResult] = {}

    def add(self, result: CaseResult) -> Iterator[CaseResult]:
        """Yield what can be emitted now that ``result`` (attempt 1, final) has ended."""
        key = (result.suite, result.classname, result.name)
        attempt = self.counts[key] = self.counts.get(key, 0) + 1
        result = result._replace(attempt=attempt, final=True, flaky=False)
        earlier = self.held.pop(key, None)
        if earlier is not None:
            yield earlier._replace(final=False)
        if key in self.done:
            yield result._replace(final=False)
        elif result.status in ("failed", "error"):
            self.held[key] = result
        else:
            self.done.add(key)
            yield result._replace(flaky=earlier is not None and result.status == "passed")

    def finish(self) -> Iterator[CaseResult]:
        """Yield the held rows: each is the last attempt of its test."""
        yield from self.held.values()
        self.held.clear()
