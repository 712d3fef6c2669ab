"""Seed data for part B's web tests: runs written by the read side's helpers, then rolled up."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from testdash_engine.persist.rollups import roll_up_runs
from testdash_models import db
from testdash_models.models import Run

from tests.web.readside import NOW, add_run, add_server, cases


def seed_trends(days: int = 5) -> dict[str, int]:
    """One server, a run a day; test_0002 fails in every second run, test_0001 is slow."""
    sid = add_server("build-linux")
    for d in range(days):
        rows = cases(4, failing={2} if d % 2 else set())
        rows[1]["duration"] = 30.0
        add_run(
            sid,
            f"run{d}",
            NOW - timedelta(days=days - d - 1),
            rows,
            run_tag="nightly",
            branch="main",
        )
    db.session.commit()
    roll_up_runs(db.session(), list(db.session.scalars(select(Run.id))))
    return {"server": sid}
