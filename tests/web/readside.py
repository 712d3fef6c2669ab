"""Fixtures and seed data for the read side's tests: pages, API, query counts, browser."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from testdash_models import db
from testdash_models.models import File, QueueItem, Result, Run, Server, TestCase
from testdash_web import create_app

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def dash(database_url, tmp_path, monkeypatch):
    """The web app on this test's database, with an app context pushed for seeding."""
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": database_url})
    # Requests reuse the test's app context; a fresh session each, as in production.
    app.teardown_request(lambda error: db.session.remove())
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def browse(dash):
    """A test client of the web app."""
    return dash.test_client()


def case_id(name: str, classname: str = "pkg.Tests", suite: str = "suite") -> int:
    digest = hashlib.blake2b(f"{suite}\x1f{classname}\x1f{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class Seeded:
    servers: dict[str, int] = field(default_factory=dict)
    runs: list[int] = field(default_factory=list)
    tests: dict[str, int] = field(default_factory=dict)


def add_server(name: str, *, last_success: datetime | None = NOW) -> int:
    server = Server(
        name=name,
        root=f"/results/{name}",
        last_scan_at=last_success,
        last_ingest_at=last_success,
        last_success_at=last_success,
    )
    db.session.add(server)
    db.session.flush()
    return server.id


def add_run(server_id: int, run_dir: str, started: datetime, cases: list[dict], **meta) -> int:
    """A run with one accepted file holding CASES (dicts of Result columns plus name)."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "flaky": 0}
    for c in cases:
        if c.get("final", True):
            key = {"error": "errors"}.get(c["status"], c["status"])
            counts[key] += 1
            counts["flaky"] += bool(c.get("flaky"))
    failing = counts["failed"] + counts["errors"]
    run = Run(
        server_id=server_id,
        run_dir=run_dir,
        started_at=started,
        finished_at=started and started + timedelta(minutes=5),
        duration=300.0 if started else None,
        status="failed" if failing else ("passed" if cases else "empty"),
        total=sum(counts[k] for k in ("passed", "failed", "errors", "skipped")),
        files_accepted=1,
        **counts,
        **meta,
    )
    db.session.add(run)
    db.session.flush()
    f = File(
        run_id=run.id,
        run_dir=run_dir,
        file_path="reports",
        file_name="TEST-suite.xml",
        full_name=f"{run_dir}/reports/TEST-suite.xml",
        file_type="xml",
        file_size=1234,
        mtime_ns=0,
        format="junit",
        status="accepted",
        results=len(cases),
    )
    db.session.add(f)
    db.session.flush()
    add_results(run.id, f.id, cases)
    return run.id


def add_results(run_id: int, file_id: int, cases: list[dict]) -> None:
    """Insert test cases (if new) and results in bulk."""
    catalogue, rows = {}, []
    for ordinal, c in enumerate(cases):
        suite, classname = c.get("suite", "suite"), c.get("classname", "pkg.Tests")
        tid = case_id(c["name"], classname, suite)
        catalogue[tid] = {
            "id": tid,
            "suite": suite,
            "classname": classname,
            "name": c["name"],
            "created_at": NOW,
        }
        row = {
            k: c.get(k)
            for k in ("message", "type", "trace", "stdout", "stderr", "duration", "fingerprint")
        }
        row.update(
            run_id=run_id,
            file_id=file_id,
            test_case_id=tid,
            ordinal=ordinal,
            status=c["status"],
            attempt=c.get("attempt", 1),
            final=c.get("final", True),
            flaky=c.get("flaky", False),
            truncated=0,
            started_at=None,
        )
        rows.append(row)
    known = set(db.session.scalars(sa.select(TestCase.id).where(TestCase.id.in_(list(catalogue)))))
    new = [v for k, v in catalogue.items() if k not in known]
    if new:
        db.session.execute(sa.insert(TestCase), new)
    if rows:
        db.session.execute(sa.insert(Result), rows)


def cases(n: int, *, failing: set[int] = frozenset(), prefix: str = "test_") -> list[dict]:
    out = []
    for i in range(n):
        if i in failing:
            out.append(
                {
                    "name": f"{prefix}{i:04d}",
                    "status": "failed",
                    "message": f"boom {i}",
                    "type": "AssertionError",
                    "trace": f"trace {i}",
                    "stdout": f"out {i}",
                    "duration": 0.5,
                }
            )
        else:
            out.append({"name": f"{prefix}{i:04d}", "status": "passed", "duration": 0.1 + i / 1000})
    return out


def seed_basic(*, runs_per_server: int = 3, size: int = 10, suffix: str = "") -> Seeded:
    """Two servers (one stale), a few runs each; test_0002 fails from the second run on."""
    seeded = Seeded()
    seeded.servers["build-linux"] = add_server("build-linux" + suffix)
    seeded.servers["qa-lab"] = add_server("qa-lab" + suffix, last_success=NOW - timedelta(days=3))
    for server, sid in seeded.servers.items():
        for r in range(runs_per_server):
            started = NOW - timedelta(hours=(runs_per_server - r) * 12)
            failing = {2} if r >= 1 else set()
            tag = "nightly" if server == "build-linux" else "regression"
            seeded.runs.append(
                add_run(
                    sid,
                    f"{server}-run{r}",
                    started,
                    cases(size, failing=failing),
                    run_tag=tag,
                    branch="main",
                    owner="platform",
                    site="dublin",
                    build=str(100 + r),
                )
            )
    db.session.add(
        QueueItem(
            server_id=seeded.servers["qa-lab"],
            run_dir="qa-lab-next",
            state="pending",
            time_to_live=NOW + timedelta(hours=10),
        )
    )
    db.session.commit()
    seeded.tests = {name: case_id(name) for name in ("test_0000", "test_0002")}
    return seeded
