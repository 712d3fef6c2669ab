"""Roll-ups kept at ingest time, so trends and rankings never scan ``results``.

Results exist only for accepted files (a rejected or duplicate file's are deleted), so
these queries read ``results`` by run alone, without joining ``files``.

- ``run_rollups``: one row per run (its final counts and summed test durations),
  replaced whole each time the run settles; one INSERT ... SELECT for any number of
  runs (``rollup --all`` writes 200 per statement).
- ``test_daily``: per server, UTC day and test, the final results' executions,
  failures, flaky passes and durations. A run settling for the first time adds its
  own results to its day (one grouped read of that run, an upsert); a run settling
  again (a changed or late file) has its day recomputed whole from the results of
  every run of that server and day, so its contribution is replaced, never doubled.
  On PostgreSQL the batch writer rebuilds each day whole instead, once the ingest has
  moved on to runs of other days (while files still parse), and the rest at its end.

- ``flaky_series`` / ``flaky_tests``: per series (server + run_tag + branch), its
  window counted with the flaky settings (``testdash_models.flaky``) and the tests
  found flaky there, recounted whole from the window's results when a run of the
  series settles (on PostgreSQL once, at the end of an ingest). ``prune`` leaves them
  as they are; a series' next recount sees only the results still stored.

A day holding a run whose results were pruned is sealed: recomputing it would
drop the pruned runs' figures, so it is left as it is (``prune`` cuts whole days).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import (
    Date,
    Integer,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter
from testdash_models import flaky
from testdash_models.config import ConfigError
from testdash_models.flaky import FlakyConfig
from testdash_models.models import (
    FlakySeries,
    FlakyTest,
    Result,
    Run,
    RunRollup,
    Server,
    TestDaily,
)
from testdash_models.models.types import utcnow

log = logging.getLogger("testdash.engine")
FAILING = ("failed", "error")
Series = tuple[int, str | None, str | None]  # server id, run_tag, branch


def run_moment(run: Run) -> datetime:
    """When a run counts as having happened: its start, else when it was first seen."""
    return run.started_at or run.created_at


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of MOMENT."""
    return moment.astimezone(UTC).date()


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


ROLLUP_COUNTS = ("total", "passed", "failed", "errors", "skipped", "flaky")


def _roll_up_set(session: Session, run_ids: Iterable[int]) -> tuple[int, set[tuple[int, date]]]:
    """Replace the rows of RUN_IDS in one statement; how many runs and which buckets they fill.

    A pruned run keeps its row (its results are gone: the figures it had are the ones to
    keep). A run that moved to another day (a new manifest) has its old day recomputed here.
    """
    ids = sorted(set(run_ids))
    if not ids:
        return 0, set()
    rows = session.execute(_ROLLED, {"ids": ids}).all()
    live: list[int] = []
    buckets: set[tuple[int, date]] = set()
    moved_days: set[tuple[int, date]] = set()
    moved_series: set[int] = set()
    for row in rows:
        if row.pruned_at is not None:
            continue
        live.append(row.id)
        day = utc_day(row.at)
        buckets.add((row.server_id, day))
        if row.was_at is not None and utc_day(row.was_at) != day:
            moved_days.add((row.server_id, utc_day(row.was_at)))
        if row.was_server is not None and (row.was_tag, row.was_branch) != (
            row.run_tag,
            row.branch,
        ):
            # Its old series' count is stale (the web recounts it until ``rollup`` or
            # its next run does).
            moved_series.add(flaky.series_id(row.was_server, row.was_tag, row.was_branch))
    if not live:
        return 0, set()
    upsert = _upsert_rollups(session.get_bind().dialect.name)
    # Core, not the ORM: the ORM would take the parameters for rows to insert.
    session.connection().execute(upsert, {"ids": live, "now": utcnow()})
    for server_id, day in sorted(moved_days):
        _recompute_day(session, server_id, day)  # its old day must forget it
    if moved_series:
        session.execute(
            update(FlakySeries).where(FlakySeries.id.in_(sorted(moved_series))).values(settings="")
        )
    return len(live), buckets


_MOMENT = func.coalesce(Run.started_at, Run.created_at)
# Built once: the ingest rolls up every batch's runs, and building costs more than running.
_RUN_IDS: BindParameter[int] = bindparam("ids", expanding=True)
_ROLLED = (
    select(
        Run.id,
        Run.server_id,
        Run.run_tag,
        Run.branch,
        _MOMENT.label("at"),
        RunRollup.server_id.label("was_server"),
        RunRollup.run_tag.label("was_tag"),
        RunRollup.branch.label("was_branch"),
        RunRollup.at.label("was_at"),
        RunRollup.pruned_at,
    )
    .outerjoin(RunRollup, RunRollup.run_id == Run.id)
    .where(Run.id.in_(_RUN_IDS))
)
_UPSERTS: dict[str, Any] = {}


def _upsert_rollups(dialect: str) -> Any:
    """INSERT ... SELECT of the runs' rows from ``runs`` and their final results' durations."""
    if dialect in _UPSERTS:
        return _UPSERTS[dialect]
    durations = (
        select(Result.run_id, func.sum(Result.duration).label("total"))
        .where(Result.run_id.in_(_RUN_IDS), Result.final.is_(True))
        .group_by(Result.run_id)
        .subquery()
    )
    columns = ["run_id", "server_id", "run_tag", "branch", "at", *ROLLUP_COUNTS]
    source = (
        select(
            Run.id,
            Run.server_id,
            Run.run_tag,
            Run.branch,
            _MOMENT,
            *(getattr(Run, name) for name in ROLLUP_COUNTS),
            func.coalesce(durations.c.total, 0.0),
            bindparam("now", type_=RunRollup.rolled_at.type),
        )
        .outerjoin(durations, durations.c.run_id == Run.id)
        .where(Run.id.in_(_RUN_IDS))
    )
    columns += ["duration_sum", "rolled_at"]
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(RunRollup)
    stmt = stmt.from_select(columns, source)
    upsert = _UPSERTS[dialect] = stmt.on_conflict_do_update(
        index_elements=["run_id"],
        set_={name: stmt.excluded[name] for name in columns[1:]},
        where=RunRollup.pruned_at.is_(None),
    )
    return upsert


def _bucket_runs(server_id: int, day: date) -> Select[Any]:
    start, end = _day_bounds(day)
    moment = func.coalesce(Run.started_at, Run.created_at)
    return select(Run.id).where(Run.server_id == server_id, moment >= start, moment < end)


def _recompute_day(session: Session, server_id: int, day: date) -> bool:
    """Rebuild one server's day of ``test_daily`` from its runs' final results."""
    runs = _bucket_runs(server_id, day)
    sealed = session.scalar(
        select(func.count())
        .select_from(RunRollup)
        .where(RunRollup.run_id.in_(runs), RunRollup.pruned_at.is_not(None))
    )
    if sealed:
        log.warning(
            "server %s day %s holds pruned runs; its test roll-ups are kept", server_id, day
        )
        return False
    session.execute(delete(TestDaily).where(TestDaily.server_id == server_id, TestDaily.day == day))
    one = literal(1, Integer)
    source = (
        select(
            literal(server_id, Integer),
            literal(day, Date),
            Result.test_case_id,
            func.count(),
            func.sum(case((Result.status.in_(FAILING), one), else_=0)),
            func.sum(case((Result.flaky.is_(True), one), else_=0)),
            func.count(Result.duration),
            func.coalesce(func.sum(Result.duration), 0.0),
        )
        .where(Result.run_id.in_(runs), Result.final.is_(True))
        .group_by(Result.test_case_id)
    )
    columns = [
        "server_id",
        "day",
        "test_case_id",
        "executions",
        "failures",
        "flaky",
        "timed",
        "duration_sum",
    ]
    session.execute(insert(TestDaily).from_select(columns, source))
    return True


def roll_up_runs(session: Session, run_ids: Iterable[int]) -> int:
    """Recompute the roll-ups of RUN_IDS (each day once) and commit; how many runs were rolled."""
    rolled, buckets = _roll_up_set(session, run_ids)
    for server_id, day in sorted(buckets):
        _recompute_day(session, server_id, day)
    session.commit()
    return rolled


_ADD_RUN = """
    INSERT INTO test_daily
        (server_id, day, test_case_id, executions, failures, flaky, timed, duration_sum)
    SELECT :server, :day, r.test_case_id, count(*),
           sum(CASE WHEN r.status IN ('failed', 'error') THEN 1 ELSE 0 END),
           sum(CASE WHEN r.flaky THEN 1 ELSE 0 END),
           count(r.duration), coalesce(sum(r.duration), 0.0)
    FROM results r
    WHERE r.run_id = :run AND r.final
    GROUP BY r.test_case_id
    ON CONFLICT (server_id, day, test_case_id) DO UPDATE SET
        executions = test_daily.executions + excluded.executions,
        failures = test_daily.failures + excluded.failures,
        flaky = test_daily.flaky + excluded.flaky,
        timed = test_daily.timed + excluded.timed,
        duration_sum = test_daily.duration_sum + excluded.duration_sum
"""


def update_rollups(session: Session, run_id: int) -> None:
    """Bring the roll-ups up to date with one settled run (idempotent).

    The common case, a run settling for the first time, costs one read of its own
    results: recomputing its whole day after every run would read that day's results
    once per run (quadratic in the runs of a day). Its series' flaky tests are recounted.
    (The batch writer rolls up its runs together instead: ``roll_up_settled``.)
    """
    run = session.get(Run, run_id)
    if run is None:
        return
    series = (run.server_id, run.run_tag, run.branch)
    rolled = session.get(RunRollup, run_id)
    if rolled is not None:
        was = (rolled.server_id, rolled.run_tag, rolled.branch)  # a new manifest may move it
        roll_up_runs(session, [run_id])
        if was != series:
            roll_up_series(session, [was], flaky_config())
    else:
        for server_id, day in _roll_up_set(session, [run_id])[1]:
            session.execute(text(_ADD_RUN), {"server": server_id, "day": day, "run": run_id})
        session.commit()
    roll_up_series(session, [series], flaky_config())


def missing_rollups(session: Session, limit: int) -> list[int]:
    """Runs without a roll-up row yet (ingested before the roll-ups existed), oldest first."""
    stmt = (
        select(Run.id)
        .outerjoin(RunRollup, RunRollup.run_id == Run.id)
        .where(RunRollup.run_id.is_(None))
        .order_by(Run.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def rebuild_days(session: Session, days: Iterable[tuple[int, date]]) -> None:
    """Rebuild the per-test roll-ups of these (server, day) buckets and commit."""
    for server_id, day in sorted(days):
        _recompute_day(session, server_id, day)
    session.commit()


def recount_series_of(
    session: Session, days: set[tuple[int, date]], config: FlakyConfig | None = None
) -> None:
    """Recount the flaky tests of every series with a run in DAYS (each committed)."""
    touched: set[Series] = set()
    for server_id, day in days:
        stmt = select(Run.server_id, Run.run_tag, Run.branch).where(
            Run.id.in_(_bucket_runs(server_id, day))
        )
        touched.update((row.server_id, row.run_tag, row.branch) for row in session.execute(stmt))
    roll_up_series(session, sorted(touched, key=str), config or flaky_config())


def roll_up_settled(session: Session, run_ids: list[int]) -> set[tuple[int, date]]:
    """The run rows of settled RUN_IDS, committed; the (server, day) buckets to rebuild."""
    buckets = _roll_up_set(session, run_ids)[1]
    session.commit()
    return buckets


def flaky_config() -> FlakyConfig:
    """The current app's flaky settings (the defaults outside an app).

    A bad setting must not stop ingestion: it is logged and the defaults are used (the
    web counts a series itself when its settings are not the ones counted with).
    """
    try:
        return flaky.load(current_app.config if has_app_context() else {})
    except ConfigError as exc:
        log.error("%s; flaky tests are counted with the default settings", exc)
        return FlakyConfig(flaky.FlakySettings(), {})


def _window(session: Session, series: Series, settings: flaky.FlakySettings) -> list[Any]:
    """The series' last SETTINGS.window runs with a test, newest first."""
    server_id, run_tag, branch = series
    stmt = (
        select(Run.id, Run.total, (Run.failed + Run.errors).label("failing"))
        .where(
            Run.server_id == server_id,
            Run.run_tag.is_not_distinct_from(run_tag),
            Run.branch.is_not_distinct_from(branch),
            Run.total > 0,
        )
        .order_by(*flaky.NEWEST_FIRST)
        .limit(settings.window)
    )
    return list(session.execute(stmt).all())


def roll_up_series(session: Session, series: Iterable[Series], config: FlakyConfig) -> int:
    """Recount the flaky tests of each series' window with its settings, committing each."""
    names = dict(session.execute(select(Server.id, Server.name)).all())
    done = 0
    for key in series:
        server_id, run_tag, branch = key
        settings = config.flaky_for(names.get(server_id, ""), run_tag)
        runs = _window(session, key, settings)
        counted = [run.id for run in runs if not settings.infra(run.total, run.failing)]
        series_id = flaky.series_id(server_id, run_tag, branch)
        session.execute(delete(FlakyTest).where(FlakyTest.series_id == series_id))
        session.execute(delete(FlakySeries).where(FlakySeries.id == series_id))
        if runs:
            session.execute(
                insert(FlakySeries).values(
                    id=series_id,
                    server_id=server_id,
                    run_tag=run_tag,
                    branch=branch,
                    settings=settings.key,
                    runs=len(runs),
                    infra=len(runs) - len(counted),
                    rolled_at=utcnow(),
                )
            )
        found = _flaky_tests(session, counted, settings) if counted else []
        if found:  # a Core executemany, lighter than the ORM bulk insert (no mapper work)
            rows = [{"series_id": series_id, **f} for f in found]
            session.execute(insert(FlakyTest.__table__), rows)
        session.commit()
        done += 1
    return done


def _flaky_tests(
    session: Session, run_ids: list[int], settings: flaky.FlakySettings
) -> list[dict[str, Any]]:
    """The tests a rule finds flaky in RUN_IDS (one series' window), as ``flaky_tests`` rows."""
    found = []
    for row in flaky.figures(session, run_ids):
        rules, score = flaky.judge(settings, row.runs, row.failures, row.flips, row.retries)
        if rules:
            found.append(
                {
                    "test_case_id": row.test_case_id,
                    "executions": row.runs,
                    "failures": row.failures,
                    "flips": row.flips,
                    "retries": row.retries,
                    "score": score,
                    "impact": flaky.impact(score, row.runs),
                    "rules": ",".join(rules),
                }
            )
    return found


def all_series(session: Session) -> list[Series]:
    """Every series with a run holding a test."""
    stmt = (
        select(Run.server_id, Run.run_tag, Run.branch)
        .where(Run.total > 0)
        .distinct()
        .order_by(Run.server_id, Run.run_tag, Run.branch)
    )
    return [(row.server_id, row.run_tag, row.branch) for row in session.execute(stmt)]


def stale_series(session: Session, config: FlakyConfig) -> list[Series]:
    """Series never counted, or counted with other settings than CONFIG's."""
    names = dict(session.execute(select(Server.id, Server.name)).all())
    kept = dict(session.execute(select(FlakySeries.id, FlakySeries.settings)).all())
    return [
        (server_id, run_tag, branch)
        for server_id, run_tag, branch in all_series(session)
        if kept.get(flaky.series_id(server_id, run_tag, branch))
        != config.flaky_for(names.get(server_id, ""), run_tag).key
    ]
