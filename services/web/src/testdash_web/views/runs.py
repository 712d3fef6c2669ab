"""The runs list (filters, sort, keyset pages, CSV and JSON export) and one run in full."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue

from testdash_web.api.schema import RUN, dump
from testdash_web.filters import RunFilters, limit_arg, text_arg
from testdash_web.queries import compare, overview, runs, stored

bp = Blueprint("runs", __name__)


@bp.get("/runs")
def index() -> ResponseReturnValue:
    """Runs matching the filters in the URL, one page at a time."""
    filters = RunFilters.from_args(request.args)
    cursor = text_arg(request.args, "cursor", max_length=1000)
    limit = limit_arg(request.args)
    page = runs.list_runs(filters, cursor, limit)
    args = filters.args(request.args)
    return render_template(
        "runs/index.html",
        filters=filters,
        args=args,
        paging=dict(args, limit=str(limit)) if "limit" in request.args else args,
        page=page,
        servers=[server.name for server in overview.all_servers()],
    )


def _cell(value: object) -> object:
    """A CSV cell; text a spreadsheet would run as a formula is quoted (OWASP CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_rows(filters: RunFilters) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([field.name for field in RUN])
    for run in runs.iter_runs(filters):
        writer.writerow([_cell(v) for v in dump(RUN, run).values()])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_rows(filters: RunFilters) -> Iterator[str]:
    separator = "[\n"
    for run in runs.iter_runs(filters):
        yield separator + json.dumps(dump(RUN, run))
        separator = ",\n"
    yield "[]\n" if separator == "[\n" else "\n]\n"


@bp.get("/runs.csv")
def export_csv() -> ResponseReturnValue:
    """Every matching run as CSV, streamed."""
    filters = RunFilters.from_args(request.args)
    return Response(
        stream_with_context(_csv_rows(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=runs.csv"},
    )


@bp.get("/runs.json")
def export_json() -> ResponseReturnValue:
    """Every matching run as a JSON array, streamed."""
    filters = RunFilters.from_args(request.args)
    return Response(
        stream_with_context(_json_rows(filters)),
        mimetype="application/json",
        headers={"Content-Disposition": "attachment; filename=runs.json"},
    )


@bp.get("/runs/<int:run_id>")
def detail(run_id: int) -> ResponseReturnValue:
    """One run: totals, failures first, then suites and cases, and its files."""
    detail = runs.run_detail(run_id)
    since = compare.since_previous(detail.run)
    return render_template(
        "runs/detail.html",
        detail=detail,
        case_limit=runs.CASE_LIMIT,
        since=since,
        stored=stored.stored_files(detail.run, detail.files),
        volume_path=stored.volume_path,
    )
