"""Every page and API answer issues a fixed number of SQL queries, however much data there is."""

from contextlib import contextmanager

import pytest
from sqlalchemy import event
from testdash_models import db

from tests.web.readside import add_run, add_server, cases, seed_basic

BUDGET = 8  # part B: a test page also reads its aliases and mutes, a run page its mutes


@contextmanager
def counting(engine):
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def urls(seeded):
    run, test = seeded.runs[-1], seeded.tests["test_0002"]
    return [
        "/",
        "/runs?server=qa-lab&status=failed",
        f"/runs/{run}",
        f"/tests/{test}",
        "/search?q=test_00",
        "/ingest",
        "/api/v1/servers",
        "/api/v1/runs?status=failed",
        f"/api/v1/runs/{run}",
        f"/api/v1/runs/{run}/results",
        f"/api/v1/tests/{test}",
        f"/api/v1/tests/{test}/history",
        "/api/v1/search/tests?q=test_00",
        "/api/v1/ingest",
        "/flaky",
        f"/runs/{seeded.runs[-2]}/compare/{run}",
        "/clusters",
        "/api/v1/flaky",
        f"/api/v1/tests/{test}/flakiness",
        f"/api/v1/runs/{seeded.runs[-2]}/compare/{run}",
        "/api/v1/clusters",
        "/compare",
        f"/compare?head={run}",
        "/api/v1/quarantine",
        "/trends/tests?kind=failing",
    ]


def measure(browse, seeded):
    browse.get("/readyz")  # connect first: dialect set-up queries are not the page's
    counts = {}
    for index, url in enumerate(urls(seeded)):
        with counting(db.engine) as statements:
            response = browse.get(url)
        assert response.status_code == 200, url
        counts[index] = len(statements)
    return counts


@pytest.mark.slow
def test_pages_issue_a_fixed_number_of_queries_however_large_the_runs(browse):
    small = measure(browse, seed_basic(runs_per_server=1, size=3))
    # Many more runs, servers and results (some failing, some retried) must cost no more queries.
    big = seed_basic(runs_per_server=12, size=600, suffix="-big")
    for n in range(8):
        sid = add_server(f"extra-{n}")
        add_run(sid, f"extra-{n}", None, cases(300, failing=set(range(0, 300, 7))))
    db.session.commit()
    large = measure(browse, big)
    assert list(small.values()) == list(large.values()), (small, large)
    assert max(large.values()) <= BUDGET, large
