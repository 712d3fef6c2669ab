"""Small run trees with chosen start times, for the roll-up and prune tests."""

from __future__ import annotations

import json
import pathlib
from datetime import datetime

from tests.engine.test_ingest import invoke

SUITE = """<?xml version="1.0" encoding="utf-8"?>
<testsuite name="s" tests="3">
  <testcase classname="pkg.T" name="a" time="0.5"/>
  <testcase classname="pkg.T" name="b" time="1.5">{b}</testcase>
  <testcase classname="pkg.T" name="c" time="0.25"><skipped/></testcase>
</testsuite>
"""
FAIL = '<failure message="boom">trace</failure>'


def write_run(
    vol: pathlib.Path, name: str, when: datetime, *, b_fails: bool = True, **meta
) -> pathlib.Path:
    run = vol / name
    run.mkdir(parents=True, exist_ok=True)
    manifest = {"start_time": when.isoformat(), "run_tag": "nightly", "branch": "main", **meta}
    (run / "testdash-run.json").write_text(json.dumps(manifest))
    (run / "junit.xml").write_text(SUITE.format(b=FAIL if b_fails else ""))
    return run


def ingest(runner, vol: pathlib.Path, server: str = "s"):
    result = invoke(runner, "run", "--server", server, "--root", str(vol))
    assert result.exit_code in (0, 1), result.output
    return result
