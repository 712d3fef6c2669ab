"""Search: tests by a substring of their name, runs by tag."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from testdash_models.models import TestCase

from testdash_web.filters import RunFilters, text_arg
from testdash_web.paging import Page
from testdash_web.queries import runs, tests

bp = Blueprint("search", __name__)
MIN_CHARS = 3


@bp.get("/search")
def index() -> ResponseReturnValue:
    """Tests whose name contains q and runs tagged q (run_tag or user_tag)."""
    query = text_arg(request.args, "q")
    cursor = text_arg(request.args, "cursor", max_length=1000)
    found: Page[TestCase] = Page([], None)
    if query and len(query) >= MIN_CHARS:
        found = tests.search_tests(query, cursor, 50)
    tagged = runs.list_runs(RunFilters(tag=query), None, 50) if query and not cursor else None
    return render_template(
        "search/index.html", query=query, tests=found, tagged=tagged, min_chars=MIN_CHARS
    )
