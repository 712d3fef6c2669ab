"""What the CLI prints: summaries, listings and the progress bar. Reads only."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from testdash_models.models import File, QueueItem, Result, Run, Server

from testdash_engine.ingest import IngestStats, Progress, ScanStats
from testdash_engine.model import ParsedFile


@contextmanager
def progress(total: int | None) -> Iterator[Progress | None]:
    """A progress bar on a terminal; nothing otherwise (logs stay JSON lines)."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(
        length=total or 0, label="ingest", file=sys.stderr, show_pos=True, show_eta=bool(total)
    ) as bar:

        def step(name: str, results: int) -> None:
            bar.update(1)

        yield step


def summary(
    stats: IngestStats, scanned: ScanStats | None = None, started: float | None = None
) -> None:
    """The one summary line at the end of ``run`` and ``ingest``; STARTED is time.monotonic()."""
    parts = []
    if scanned is not None:
        parts.append(f"{scanned.runs_seen} runs seen, {scanned.runs_queued} queued")
    parts.append(
        f"{stats.runs} runs ingested, {stats.files_seen} files seen "
        f"({stats.files_new} new, {stats.files_changed} changed, "
        f"{stats.files_unchanged} unchanged, "
        f"{stats.files_rejected} rejected), {stats.results_written} results written"
    )
    if stats.expired:
        parts.append(f"{stats.expired} queue items expired")
    if stats.busy_servers:
        parts.append("busy elsewhere: " + ", ".join(stats.busy_servers))
    if started is not None:
        elapsed = time.monotonic() - started
        rate = (
            f", {stats.results_written / elapsed:,.0f} results/s" if stats.results_written else ""
        )
        parts.append(f"{elapsed:.1f} s{rate}")
    outcome = "ok" if stats.ok else "FAILED"
    click.echo(f"testdash-engine {outcome}: " + "; ".join(parts))
    for failure in stats.failed_items:
        click.echo(f"  failed: {failure}", err=True)


def parsed_line(parsed: ParsedFile) -> str:
    """One line per file for ``parse``."""
    if parsed.rejection is not None:
        return f"{parsed.path}: REJECTED {parsed.rejection}"
    counts = ", ".join(f"{n} {s}" for s, n in parsed.counts.items())
    dialect = f"/{parsed.dialect}" if parsed.dialect else ""
    extra = (
        f"; {parsed.attempts} rows, {parsed.flaky} flaky" if parsed.attempts != parsed.tests else ""
    )
    notes = f"; {len(parsed.issues)} notes" if parsed.issues else ""
    return f"{parsed.path}: {parsed.format}{dialect}: {parsed.tests} tests ({counts}){extra}{notes}"


def parsed_json(parsed: ParsedFile) -> str:
    """One JSON object per file for ``parse --json``."""
    data: dict[str, Any] = {
        "path": parsed.path,
        "size": parsed.size,
        "sha256": parsed.sha256,
        "accepted": parsed.accepted,
        "format": parsed.format,
        "dialect": parsed.dialect,
        "tests": parsed.tests,
        "counts": parsed.counts,
        "rows": parsed.attempts,
        "flaky": parsed.flaky,
        "issues": [{"message": i.message, "line": i.line} for i in parsed.issues],
        "rejection": None,
    }
    if parsed.rejection is not None:
        r = parsed.rejection
        data["rejection"] = {"kind": r.kind, "reason": r.reason, "line": r.line}
    return json.dumps(data)


def status(session: Session) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    servers = session.execute(
        select(Server.name, Server.last_scan_at, Server.last_success_at, func.count(Run.id))
        .outerjoin(Run, Run.server_id == Server.id)
        .group_by(Server.id)
        .order_by(Server.name)
    )
    files = dict(session.execute(select(File.status, func.count()).group_by(File.status)).all())
    results = dict(
        session.execute(
            select(Result.status, func.count())
            .where(Result.final.is_(True))
            .group_by(Result.status)
        ).all()
    )
    queue = dict(
        session.execute(select(QueueItem.state, func.count()).group_by(QueueItem.state)).all()
    )
    return {
        "servers": [
            {"name": n, "runs": runs, "last_scan_at": scan, "last_success_at": ok}
            for n, scan, ok, runs in servers
        ],
        "runs": session.scalar(select(func.count(Run.id))) or 0,
        "files": {k: int(v) for k, v in files.items()},
        "results": {k: int(v) for k, v in results.items()},
        "queue": {k: int(v) for k, v in queue.items()},
    }


def status_text(data: dict[str, Any]) -> str:
    """``status`` for people."""
    lines = [f"servers: {len(data['servers'])}, runs: {data['runs']}"]
    for s in data["servers"]:
        lines.append(
            f"  {s['name']}: {s['runs']} runs, last scan {s['last_scan_at'] or 'never'}, "
            f"last successful ingest {s['last_success_at'] or 'never'}"
        )
    for key in ("files", "results", "queue"):
        body = ", ".join(f"{v} {k}" for k, v in sorted(data[key].items())) or "none"
        lines.append(f"{key}: {body}")
    return "\n".join(lines)


def queue_listing(session: Session, state: str | None, as_json: bool) -> str:
    """Queue items, newest first."""
    query = select(QueueItem).order_by(QueueItem.id.desc()).limit(1000)
    if state:
        query = query.where(QueueItem.state == state)
    items = session.scalars(query).all()
    rows = [
        {
            "id": q.id,
            "server": q.server.name,
            "run_dir": q.run_dir,
            "state": q.state,
            "time_to_live": q.time_to_live.isoformat(),
            "attempts": q.attempts,
            "last_error": q.last_error,
            "owner": q.owner,
            "run_tag": q.run_tag,
        }
        for q in items
    ]
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "the queue is empty"
    return "\n".join(
        f"{r['id']:>6} {r['state']:<8} ttl {r['time_to_live']}  {r['server']}:{r['run_dir']}"
        + (f"  ({r['last_error']})" if r["last_error"] else "")
        for r in rows
    )


def file_listing(session: Session, rejected: bool, server_name: str | None, as_json: bool) -> str:
    """Files with their status and reason."""
    query = (
        select(File, Server.name)
        .join(Run, Run.id == File.run_id)
        .join(Server, Server.id == Run.server_id)
        .order_by(File.id.desc())
        .limit(5000)
    )
    if rejected:
        query = query.where(File.status == "rejected")
    if server_name:
        query = query.where(Server.name == server_name)
    rows = [
        {
            "server": name,
            "full_name": f.full_name,
            "status": f.status,
            "format": f.format,
            "size": f.file_size,
            "tests": f.tests,
            "reason": f.reason,
            "line": f.reason_line,
        }
        for f, name in session.execute(query)
    ]
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "no rejected files" if rejected else "no files"
    out = []
    for r in rows:
        where = f" line {r['line']}" if r["line"] else ""
        tail = f"  {r['reason']}{where}" if r["reason"] else f"  {r['format']}, {r['tests']} tests"
        out.append(f"{r['status']:<8} {r['server']}:{r['full_name']}{tail}")
    return "\n".join(out)
