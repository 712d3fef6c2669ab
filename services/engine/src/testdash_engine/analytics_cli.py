"""``rollup``, ``prune``, ``alias`` and ``fingerprint``: analytics upkeep from the command line."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from testdash_models import db
from testdash_models.identity import AliasError, add_alias, test_key

from testdash_engine.persist import fingerprints, rollups
from testdash_engine.persist import prune as pruning

ROLLUP_CHUNK = 200
PROGRESS_EVERY = 100  # batches between progress lines of a fingerprint backfill


def _guarded(func: Any) -> Any:
    from testdash_engine.cli import guarded  # late: cli imports this module

    return guarded(func)


@click.command("rollup")
@with_appcontext
@click.option("--all", "everything", is_flag=True, help="Recompute every run, not only missing.")
def rollup_command(everything: bool) -> None:
    """Fill the roll-ups for runs ingested before they existed (or recompute them all).

    Series whose flaky tests were never counted, or were counted with other FLAKY_*
    settings, are recounted (with --all: every series).
    """

    @_guarded
    def work() -> tuple[int, int]:
        session, done = db.session(), 0
        if everything:
            from sqlalchemy import select
            from testdash_models.models import Run

            ids = list(session.scalars(select(Run.id).order_by(Run.id)))
            for start in range(0, len(ids), ROLLUP_CHUNK):
                done += rollups.roll_up_runs(session, ids[start : start + ROLLUP_CHUNK])
        else:
            while batch := rollups.missing_rollups(session, ROLLUP_CHUNK):
                rolled = rollups.roll_up_runs(session, batch)
                done += rolled
                if not rolled:
                    break  # only pruned runs are left: nothing more can be rolled up
        config = rollups.flaky_config()
        if everything:
            series = rollups.all_series(session)
        else:
            series = rollups.stale_series(session, config)
        return done, rollups.roll_up_series(session, series, config)

    runs, series = work()
    click.echo(f"rolled up {runs} runs, flaky tests of {series} series")


def _policy(days: int | None, batch_runs: int | None, pause: float) -> pruning.Retention:
    config = current_app.config
    try:
        server_days = pruning.parse_server_days(config["RETENTION_SERVER_DAYS"])
    except ValueError as exc:
        raise click.UsageError(f"RETENTION_SERVER_DAYS: {exc}") from None
    return pruning.Retention(
        days=config["RETENTION_DAYS"] if days is None else days,
        server_days=server_days,
        rejected_file_days=config["RETENTION_REJECTED_FILE_DAYS"],
        queue_days=config["RETENTION_QUEUE_DAYS"],
        batch_runs=batch_runs or config["RETENTION_BATCH_RUNS"],
        pause=pause,
    )


@click.command("prune")
@with_appcontext
@click.option("--days", type=click.IntRange(0), help="Override RETENTION_DAYS (0: keep all).")
@click.option("--server", "server_name", metavar="NAME", help="Only this server's runs.")
@click.option("--batch-runs", type=click.IntRange(1, 1000), help="Runs per transaction.")
@click.option("--pause", type=click.FloatRange(0), default=0.0, help="Seconds between batches.")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def prune_command(
    days: int | None,
    server_name: str | None,
    batch_runs: int | None,
    pause: float,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete results older than the retention age (roll-ups stay), old rejected files and queue."""
    policy = _policy(days, batch_runs, pause)
    stats = _guarded(pruning.prune)(db.session(), policy, server_name=server_name, dry=dry_run)
    figures = {name: getattr(stats, name) for name in stats.__slots__}
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, **figures}))
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"prune: {verb} {stats.results} results of {stats.runs} runs "
        f"({stats.rolled_up} rolled up first), {stats.rejected_files} rejected files, "
        f"{stats.queue_items} finished queue items in {stats.transactions} transactions"
    )


def _date(_ctx: click.Context, _param: click.Parameter, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (2026-01-31) or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("alias")
@with_appcontext
@click.argument(
    "names", nargs=-1, metavar="[OLD_SUITE OLD_CLASS OLD_NAME NEW_SUITE NEW_CLASS NEW_NAME]"
)
@click.option("--ids", nargs=2, type=int, metavar="OLD_ID NEW_ID", help="Give test ids instead.")
@click.option("--from", "effective", required=True, callback=_date, help="Effective date.")
@click.option("--by", "created_by", default=None, help="Who (default: $USER).")
def alias_command(
    names: tuple[str, ...], ids: tuple[int, int] | None, effective: datetime, created_by: str | None
) -> None:
    """Record a rename: the old test's history before --from follows the new name."""
    if ids and names or not ids and len(names) != 6:
        raise click.UsageError("give six names (old suite, class, name, new ...) or --ids OLD NEW")
    old_id, new_id = ids if ids else (test_key(*names[:3]), test_key(*names[3:]))
    who = created_by or f"cli:{os.environ.get('USER', 'unknown')}"

    @_guarded
    def work() -> None:
        try:
            add_alias(db.session(), old_id, new_id, effective, who)
        except AliasError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()

    work()
    click.echo(f"alias {old_id} -> {new_id} from {effective.isoformat()}")


@click.command("fingerprint")
@with_appcontext
@click.option("--backfill", is_flag=True, help="Fill the missing fingerprints (else count them).")
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=fingerprints.BATCH,
    help="Rows per transaction.",
)
@click.option(
    "--after", type=click.IntRange(0), default=0, metavar="ID", help="Resume after this result id."
)
@click.option("--pause", type=click.FloatRange(0), default=0.0, help="Seconds between batches.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def fingerprint_command(
    backfill: bool, batch: int, after: int, pause: float, as_json: bool
) -> None:
    """Count, or with --backfill fill, failures stored before fingerprints existed (0005)."""
    session = db.session()
    if not backfill:
        missing = _guarded(fingerprints.count_missing)(session)
        if as_json:
            click.echo(json.dumps({"missing": missing}))
        else:
            hint = ": `testdash-engine fingerprint --backfill` fills them" if missing else ""
            click.echo(f"fingerprint: {missing} failed or errored results have none{hint}")
        return

    def progress(stats: fingerprints.BackfillStats) -> None:
        if stats.batches % PROGRESS_EVERY == 0:  # the last id: where --after resumes
            click.echo(f"fingerprint: {stats.filled} filled, last id {stats.last_id}", err=True)

    stats = _guarded(fingerprints.backfill)(
        session, batch=batch, after=after, pause=pause, progress=progress
    )
    if as_json:
        click.echo(
            json.dumps({"filled": stats.filled, "batches": stats.batches, "last_id": stats.last_id})
        )
        return
    click.echo(
        f"fingerprint: filled {stats.filled} failures in {stats.batches} transactions "
        f"(last result id {stats.last_id})"
    )


COMMANDS = (rollup_command, prune_command, alias_command, fingerprint_command)
