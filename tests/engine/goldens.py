"""What the format tests share: golden inputs, their records, scratch files, rejection kinds."""

from __future__ import annotations

import pathlib
from datetime import UTC

from testdash_engine.formats import ReportReader
from testdash_engine.model import CaseResult

GOLDEN = pathlib.Path(__file__).parent / "golden"
KINDS = {"malformed", "not-a-report", "hostile", "unreadable", "empty", "too-large"}


def inputs(*folders):
    """The golden input files of FOLDERS (not the expected JSON, READMEs or sources)."""
    return sorted(
        path
        for folder in folders
        for path in (GOLDEN / folder).iterdir()
        if path.is_file() and not path.name.endswith((".expected.json", ".md", ".txt"))
    )


def expected_path(path):
    """The expected records beside a golden input."""
    return path.with_name(path.stem + ".expected.json")


def record(item):
    """A parsed item as the JSON the golden files hold."""
    if isinstance(item, CaseResult):
        data = item._asdict()
        # In UTC: the report's own zone is checked where it matters (test_source_zones.py).
        data["started_at"] = (
            item.started_at.astimezone(UTC).isoformat() if item.started_at else None
        )
        return data
    return {"issue": item.message, "line": item.line}


def read(path, ctx=None):
    """The case results of a file, without its notes."""
    return [r for r in ReportReader(path, ctx) if isinstance(r, CaseResult)]


def write(tmp_path, data, name="report"):
    """A scratch report file holding DATA (text or bytes)."""
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path
