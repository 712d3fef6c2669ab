"""Failure fingerprints: what normalisation takes out, and that both write paths store them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from testdash_engine import fingerprint as fp
from testdash_engine.cli import main
from testdash_models.models import Result

from tests.engine.trees import make_tree


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("expected 3 but was 42", "expected 7 but was -1.5"),
        ("object at 0x7f3a2b1c freed", "object at 0xdeadbeef freed"),
        (
            "job 550e8400-e29b-41d4-a716-446655440000 lost",
            "job 123e4567-E89B-12d3-a456-426614174000 lost",
        ),
        ("missing /tmp/pytest-12/test_a/data.json", "missing /tmp/pytest-99/test_b/data.json"),
        (r"missing C:\Users\bob\x.txt", r"missing D:\build\agent\y.txt"),
        ("at 2026-11-24T20:30:00.123Z timed out", "at 2025-01-02 03:04:05+01:00 timed out"),
        ("started 12:30:01 then died", "started 23:59:59.5 then died"),
        ("KeyError: 'user_42'", 'KeyError: "admin"'),
        ("commit 3f9a2c1d7e is bad", "commit 0b1c2d3e4f5a6b7c is bad"),
        ("connect 10.0.0.1:5432 refused", "connect 192.168.1.20:6543 refused"),
        ("see https://ci.example/run/1", "see https://ci.example/run/2?x=1"),
        ("a  b\n\tc", "a b c"),
    ],
)
def test_details_a_run_fills_in_do_not_change_the_fingerprint(one, other):
    assert fp.normalise(one) == fp.normalise(other)
    assert fp.fingerprint("E", one) == fp.fingerprint("E", other)


def test_different_causes_and_types_differ():
    assert fp.fingerprint("E", "connection refused") != fp.fingerprint("E", "permission denied")
    assert fp.fingerprint("ValueError", "x") != fp.fingerprint("TypeError", "x")
    assert fp.fingerprint(None, "x") == fp.fingerprint("", "x")


def test_fingerprints_are_signed_64_bit_and_the_input_is_bounded():
    value = fp.fingerprint("E", "x" * 10_000_000)
    assert -(2**63) <= value < 2**63
    assert fp.fingerprint("E", "x" * fp.MAX_CHARS + "tail one") == fp.fingerprint(
        "E", "x" * fp.MAX_CHARS + "tail two"
    )
    assert fp.normalise("7 " * 100_000) == fp.normalise("7 " * (fp.MAX_CHARS // 2))


def test_only_failures_get_one_and_the_cache_stays_bounded():
    assert fp.failure_fingerprint("passed", "E", "boom") is None
    assert fp.failure_fingerprint("skipped", None, "why") is None
    assert fp.failure_fingerprint("error", "E", "boom 1") == fp.fingerprint("E", "boom 2")
    for n in range(fp.CACHE_SIZE + 10):
        fp.failure_fingerprint("failed", "E", f"message {n}")
    assert len(fp._cache) <= fp.CACHE_SIZE


def test_ingest_stores_fingerprints_of_failures_on_both_backends(
    runner, db, tmp_path, junit_report
):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1)
    result = runner.invoke(main, ["run", "--server", "server0", "--root", str(root / "server0")])
    assert result.exit_code == 0, result.output
    rows = db.session.execute(select(Result.status, Result.type, Result.fingerprint)).all()
    failing = [r for r in rows if r.status in ("failed", "error")]
    assert failing and all(r.fingerprint is not None for r in failing)
    assert all(r.fingerprint is None for r in rows if r.status not in ("failed", "error"))
    # pytest's "value N is wrong" for every N is one cluster; the fixture error is another
    by_type = {}
    for r in failing:
        by_type.setdefault(r.status, set()).add(r.fingerprint)
    assert len(by_type["failed"]) == 1 and len(by_type["error"]) == 1
    assert by_type["failed"] != by_type["error"]
