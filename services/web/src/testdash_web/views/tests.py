"""One test across runs: status strip, durations, failure messages, when it started failing."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue

from testdash_web.charts import line_chart
from testdash_web.filters import limit_arg, text_arg
from testdash_web.queries import flaky, overview, tests
from testdash_web.templating import duration

bp = Blueprint("tests", __name__)


@bp.get("/tests/<int(signed=True):test_id>")
def history(test_id: int) -> ResponseReturnValue:
    """The test's history, newest first, optionally on one server: four queries."""
    test = tests.get_test(test_id)
    server = text_arg(request.args, "server")
    cursor = text_arg(request.args, "cursor", max_length=1000)
    page = tests.history(test_id, server, cursor, limit_arg(request.args, default=100))
    oldest_first = list(reversed(page.items))
    chart = line_chart(
        [
            (
                row.duration,
                f"{row.run_dir}: {duration(row.duration)}",
                url_for("runs.detail", run_id=row.run_id),
                row.status,
            )
            for row in oldest_first
        ],
        width=600,
        height=120,
        scale=f"0–{duration(max((row.duration or 0 for row in oldest_first), default=0))}",
    )
    return render_template(
        "tests/history.html",
        test=test,
        server=server,
        servers=[s.name for s in overview.all_servers()],
        page=page,
        strip=oldest_first,
        chart=chart,
        spans=tests.message_spans(page.items),
        since=tests.first_failing(test_id, server),
        flakiness=flaky.for_test(test, server),
    )
