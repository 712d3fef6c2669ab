"""Failure fingerprints: what normalisation takes out, and that both write paths store them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update
from testdash_engine import fingerprint as fp
from testdash_engine.cli import main
from testdash_engine.persist import fingerprints
from testdash_engine.persist.fingerprints import backfill
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


def _forget_fingerprints(db):
    """The results as a database from before migration 0005 holds them: no fingerprints."""
    stored = dict(db.session.execute(select(Result.id, Result.fingerprint)).all())
    db.session.execute(update(Result).values(fingerprint=None))
    db.session.commit()
    return stored


def _fingerprints(db):
    return dict(db.session.execute(select(Result.id, Result.fingerprint)).all())


def test_backfill_fills_old_failures_in_batches_exactly_as_ingest_does(
    runner, db, tmp_path, junit_report
):
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=2)
    result = runner.invoke(main, ["run", "--server", "server0", "--root", str(root / "server0")])
    assert result.exit_code == 0, result.output
    expected = _forget_fingerprints(db)
    failing = sum(1 for value in expected.values() if value is not None)
    assert failing >= 4
    counted = runner.invoke(main, ["fingerprint", "--json"])
    assert json.loads(counted.output) == {"missing": failing}
    done = runner.invoke(main, ["fingerprint", "--backfill", "--batch", "3", "--json"])
    assert done.exit_code == 0, done.output
    figures = json.loads(done.output)
    assert figures["filled"] == failing and figures["batches"] == -(-failing // 3)
    assert figures["last_id"] == max(expected), "walked to the newest result"
    assert _fingerprints(db) == expected, "passes and skips stay NULL; failures as at ingest"
    again = runner.invoke(main, ["fingerprint", "--backfill"])
    assert again.exit_code == 0 and "filled 0 failures in 0 transactions" in again.output
    assert "0 failed or errored results have none" in runner.invoke(main, ["fingerprint"]).output


def test_backfill_resumes_after_an_interruption_and_keeps_fingerprints_it_finds(
    runner, db, tmp_path, junit_report, monkeypatch
):
    monkeypatch.setattr(fingerprints, "SPAN", 2)  # windows of two ids: most hold no failure
    root = make_tree(tmp_path / "vol", junit_report, runs=2, files=1)
    runner.invoke(main, ["run", "--server", "server0", "--root", str(root / "server0")])
    expected = _forget_fingerprints(db)
    failures = sorted(i for i, v in expected.items() if v is not None)
    # An ingest gave the last failure a fingerprint meanwhile: the backfill leaves it alone.
    db.session.execute(update(Result).where(Result.id == failures[-1]).values(fingerprint=7))
    db.session.commit()

    class Stopped(Exception):
        pass

    def stop(stats):
        raise Stopped  # killed right after the first batch committed

    with pytest.raises(Stopped):
        backfill(db.session(), batch=1, progress=stop)
    db.session.rollback()
    now = _fingerprints(db)
    assert now[failures[0]] == expected[failures[0]] and now[failures[1]] is None
    resumed = runner.invoke(main, ["fingerprint", "--backfill", "--after", str(failures[0])])
    assert resumed.exit_code == 0, resumed.output
    assert f"filled {len(failures) - 2} failures" in resumed.output
    assert _fingerprints(db) == {**expected, failures[-1]: 7}
