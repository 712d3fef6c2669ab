"""Find runs and their files on a mounted result volume, and read schedule files.

Only ``os.scandir`` and ``stat``: a re-scan of an unchanged tree must stay close
to the cost of a bare directory walk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MANIFEST = "testdash-run.json"
META_FIELDS = ("owner", "site", "host", "run_tag", "user_tag", "build", "branch", "commit")


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A run found on disk or named by a schedule file."""

    run_dir: str
    path: str
    meta: dict[str, str | None] = field(default_factory=dict)
    started_at: datetime | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class FileStat:
    """A file below a run with what a re-scan compares: size and mtime."""

    path: str
    full_name: str
    file_path: str
    file_name: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Listing:
    """The files of one run, plus entries that could not be read."""

    files: list[FileStat] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def find_runs(root: str, depth: int = 1) -> Iterator[RunSpec]:
    """Yield the runs below ROOT: manifest directories, else directories at DEPTH."""
    yield from _walk_runs(root, root, 0, depth)


def _walk_runs(root: str, path: str, level: int, depth: int) -> Iterator[RunSpec]:
    try:
        entries = list(os.scandir(path))
    except OSError as exc:
        if level == 0:
            raise
        yield RunSpec(_rel(root, path), path, problem=f"directory unreadable: {exc.strerror}")
        return
    if level > 0 and any(e.name == MANIFEST and e.is_file() for e in entries):
        yield read_manifest(root, path)
        return
    if level == depth:
        yield RunSpec(_rel(root, path), path)
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_runs(root, entry.path, level + 1, depth)


def read_manifest(root: str, path: str) -> RunSpec:
    """A run from its ``testdash-run.json``; a bad manifest is kept as the run's problem."""
    run_dir = _rel(root, path)
    try:
        with open(os.path.join(path, MANIFEST), "rb") as fh:
            data = json.loads(fh.read(1024 * 1024))
        if not isinstance(data, dict):
            raise ValueError("the manifest must be a JSON object")
        return RunSpec(run_dir, path, _meta(data), parse_time(data.get("start_time")))
    except (OSError, ValueError) as exc:
        return RunSpec(run_dir, path, problem=f"{MANIFEST}: {exc}")


def list_files(run: RunSpec, root: str | None) -> Listing:
    """Every regular file below the run (symlinks are not followed), sorted by path.

    Relative names are built while walking: os.path.relpath per file cost more
    than the stat calls themselves on a 46,716-file re-scan.
    """
    listing = Listing()
    base = root if root is not None else os.path.dirname(run.path)
    run_prefix = _rel(base, run.path)
    run_prefix = f"{run_prefix}/" if run_prefix else ""
    stack = [(run.path, "")]
    while stack:
        current, rel_dir = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            name = (run_prefix + rel_dir).rstrip("/")
            listing.errors.append((name, f"directory unreadable: {exc.strerror}"))
            continue
        for entry in entries:
            rel = rel_dir + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + "/"))
                    continue
                if not entry.is_file(follow_symlinks=False) or entry.name == MANIFEST:
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                listing.errors.append((run_prefix + rel, f"unreadable: {exc.strerror}"))
                continue
            listing.files.append(
                FileStat(
                    path=entry.path,
                    full_name=run_prefix + rel,
                    file_path=rel_dir.rstrip("/"),
                    file_name=entry.name,
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                )
            )
    listing.files.sort(key=lambda f: f.full_name)
    return listing


def load_schedule(path: str) -> list[RunSpec]:
    """The article's schedule file: a JSON list of RUN_DIR, OWNER, SITE, HOST_MACHINE, tags."""
    with open(path, "rb") as fh:
        data = json.load(fh)
    if not isinstance(data, list):
        raise ValueError("a schedule file is a JSON list of runs")
    runs = []
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict) or not item.get("RUN_DIR"):
            raise ValueError(f"entry {number} has no RUN_DIR")
        meta = _meta(
            {
                "owner": item.get("OWNER"),
                "site": item.get("SITE"),
                "host": item.get("HOST_MACHINE"),
                "run_tag": item.get("run_tag", "Development"),
                "user_tag": item.get("user_tag", ""),
                **{k: item.get(k) for k in ("build", "branch", "commit")},
            }
        )
        run_path = os.path.abspath(str(item["RUN_DIR"]))
        runs.append(RunSpec(run_path, run_path, meta, parse_time(item.get("start_time"))))
    return runs


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as aware UTC; naive times are taken as UTC; junk gives None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _meta(data: dict[str, Any]) -> dict[str, str | None]:
    return {k: (str(data[k])[:256] if data.get(k) not in (None, "") else None) for k in META_FIELDS}


def _rel(base: str, path: str) -> str:
    rel = os.path.relpath(path, base)
    return "" if rel == "." else rel.replace(os.sep, "/")
