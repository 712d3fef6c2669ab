"""``testdash-engine``: scan volumes, ingest the queue, inspect what was stored.

Commands run inside the app context (a ``FlaskGroup``), exactly as the article
pushes ``create_app(...).app_context()`` in its engine script.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import current_app
from flask.cli import FlaskGroup, shell_command
from sqlalchemy.exc import DBAPIError
from testdash_models import db
from testdash_models.config import ConfigError

from testdash_engine import create_app, ingest, metrics, report
from testdash_engine.discover import load_schedule
from testdash_engine.formats import summarize
from testdash_engine.model import Limits, ParseContext

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
F = TypeVar("F", bound=Callable[..., Any])
DB_FAILURES: tuple[type[Exception], ...] = (DBAPIError, *ingest.DB_GONE)


class Unavailable(click.ClickException):
    """The configuration or the database is not usable: exit 3."""

    exit_code = EXIT_UNAVAILABLE


def _make_app() -> Any:
    try:
        return create_app(os.environ.get("TESTDASH_CONFIG_OVERRIDE"))
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None


def _set_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        os.environ["TESTDASH_CONFIG_OVERRIDE"] = value


def guarded(func: F) -> F:
    """Turn a lost, refused or failing database into one clear line and exit status 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DB_FAILURES as exc:
            orig = getattr(exc, "orig", None) or exc
            reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
            db.session().invalidate()  # no rollback on a dead connection at teardown
            raise Unavailable(f"database unavailable: {reason}") from None

    return wrapper  # type: ignore[return-value]


class EngineGroup(FlaskGroup):
    """FlaskGroup without plugin discovery: its one plugin, Flask-Migrate's ``db``, is lazy.

    Flask loads every ``flask.commands`` entry point on each start-up, and
    Flask-Migrate's imports Alembic, which ``scan``/``ingest``/``run`` never need.
    """

    def _load_plugin_commands(self) -> None:
        self._loaded_plugin_commands = True


class LazyDbGroup(click.Group):
    """Flask-Migrate's ``db`` group, imported only when one of its commands runs."""

    def __init__(self) -> None:
        super().__init__("db", help="Perform database migrations (Flask-Migrate).")

    @staticmethod
    def _real() -> click.Group:
        from flask_migrate.cli import db as db_group

        group: click.Group = db_group
        return group

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Hand over to the real group as soon as ``db`` is invoked (help listings stay lazy)."""
        return self._real().make_context(info_name, args, parent=parent, **extra)


@click.group(
    cls=EngineGroup,
    create_app=_make_app,
    add_default_commands=False,
    load_dotenv=False,
    add_version_option=False,
)
@click.option(
    "--config",
    "config_name",
    metavar="NAME",
    expose_value=False,
    is_eager=True,
    callback=_set_config,
    help="development, testing or production (overrides FLASK_CONFIG).",
)
def main() -> None:
    """Testdash ingest engine: finds test results on a server and stores them."""
    _setup_logging()


main.add_command(shell_command)
main.add_command(LazyDbGroup())


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(message)s") if sys.stderr.isatty() else JsonFormatter()
    )
    root = logging.getLogger("testdash")
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("TESTDASH_LOG_LEVEL", "INFO").upper())
    root.propagate = False


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, default=str)


def parse_duration(value: str) -> timedelta:
    """'10h', '30m', '2d', '90s' or a bare number of hours."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
    if not match:
        raise click.BadParameter(f"{value!r} is not a duration like 10h, 30m or 2d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "": "hours"}[match[2]]
    return timedelta(**{unit: float(match[1])})


class Duration(click.ParamType[timedelta, str]):
    """A click type for durations."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        """Parse a duration."""
        return value if isinstance(value, timedelta) else parse_duration(value)


scan_options = [
    click.option(
        "--server", "server_name", metavar="NAME", help="Server name (required with --root)."
    ),
    click.option("--root", type=click.Path(file_okay=False), help="The mounted result volume."),
    click.option(
        "--schedule-file",
        type=click.Path(dir_okay=False),
        help="JSON list of runs (the article's format).",
    ),
    click.option(
        "--depth",
        type=click.IntRange(0, 20),
        default=None,
        help="Directory depth of a run without a manifest (default 1).",
    ),
    click.option(
        "--ttl", type=Duration(), default=None, help="Time to live of queued items (default 24h)."
    ),
    click.option(
        "--timezone",
        metavar="ZONE",
        callback=lambda _ctx, _param, value: _check_zone(value),
        help="IANA zone of naive timestamps on this server, e.g. Europe/Berlin (default UTC).",
    ),
]


def parse_workers(setting: int) -> int:
    """PARSE_WORKERS, with -1 meaning one per usable CPU (at most 4)."""
    if setting >= 0:
        return setting
    return min(len(os.sched_getaffinity(0)), 4)


def _check_zone(value: str | None) -> str | None:
    """An unknown zone is a usage error now, not a silent UTC at ingest."""
    if value is None:
        return None
    if not _known_zone(value):
        raise click.BadParameter(f"unknown time zone {value!r} (use an IANA name)")
    return value


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _default_zone() -> str:
    """DEFAULT_TIMEZONE, checked before any work like ``--timezone`` is."""
    name: str = current_app.config["DEFAULT_TIMEZONE"]
    if not _known_zone(name):
        raise click.UsageError(f"DEFAULT_TIMEZONE: unknown time zone {name!r} (use an IANA name)")
    return name


def with_scan_options(func: F) -> F:
    """Attach the scan options."""
    for option in reversed(scan_options):
        func = option(func)
    return func


def _scan(
    server_name: str | None,
    root: str | None,
    schedule_file: str | None,
    depth: int | None,
    ttl: timedelta | None,
    timezone: str | None,
) -> ingest.ScanStats:
    if ttl is None:
        ttl = timedelta(hours=current_app.config["QUEUE_TTL_HOURS"])
    if schedule_file:
        try:
            specs = load_schedule(schedule_file)
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"schedule file {schedule_file}: {exc}") from None
        name = server_name or next((s.meta.get("host") for s in specs if s.meta.get("host")), None)
        return ingest.scan_schedule(db.session(), specs, name or "default", ttl=ttl)
    if not root or not server_name:
        raise click.UsageError("give --server NAME --root PATH, or --schedule-file FILE")
    if not os.path.isdir(root) or not os.access(root, os.R_OK | os.X_OK):
        raise click.UsageError(f"--root {root} is not a readable directory")
    return ingest.scan_root(
        db.session(),
        server_name,
        root,
        depth=depth or current_app.config["RUN_DEPTH"],
        ttl=ttl,
        timezone=timezone,
    )


@main.command()
@with_scan_options
@guarded
def scan(**options: Any) -> None:
    """Find new and changed runs and put them on the queue."""
    stats = _scan(**options)
    click.echo(
        f"scan: {stats.runs_seen} runs seen, {stats.runs_queued} queued, "
        f"{stats.runs_unchanged} unchanged, {stats.files_seen} files"
    )
    for problem in stats.problems:
        click.echo(f"  problem: {problem}", err=True)


def _ingest(
    server_name: str | None, batch_size: int | None, total: int | None, default_tz: str
) -> ingest.IngestStats:
    config = current_app.config
    with report.progress(total) as progress:
        ingestor = ingest.Ingestor(
            db.session(),
            limits=Limits(),
            batch_size=batch_size or config["BATCH_SIZE"],
            default_tz=default_tz,
            progress=progress,
            workers=parse_workers(config["PARSE_WORKERS"]),
        )
        return ingestor.run(server_name)


@main.command("ingest")
@click.option("--server", "server_name", metavar="NAME", help="Only this server's queue items.")
@click.option(
    "--batch-size", type=click.IntRange(100, 1_000_000), default=None, help="Rows per COPY."
)
@guarded
def ingest_command(server_name: str | None, batch_size: int | None) -> None:
    """Process the queue: drop expired items, parse each run's files, store them."""
    started, default_tz = time.monotonic(), _default_zone()
    with metrics.pushed(server_name) as record:
        record.stats = stats = _ingest(server_name, batch_size, None, default_tz)
    report.summary(stats, started=started)
    sys.exit(0 if stats.ok else EXIT_FAILED)


@main.command()
@with_scan_options
@click.option(
    "--batch-size", type=click.IntRange(100, 1_000_000), default=None, help="Rows per COPY."
)
@guarded
def run(batch_size: int | None, **options: Any) -> None:
    """Scan, then ingest: what the CronJob calls. Non-zero exit when anything failed."""
    started, default_tz = time.monotonic(), _default_zone()
    server = options["server_name"] if options["root"] else None
    with metrics.pushed(server or options["server_name"]) as record:
        scanned = _scan(**options)
        record.stats = stats = _ingest(server, batch_size, scanned.files_seen or None, default_tz)
    report.summary(stats, scanned, started)
    sys.exit(0 if stats.ok else EXIT_FAILED)


@main.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option(
    "--timezone",
    default="UTC",
    callback=lambda _ctx, _param, value: _check_zone(value),
    help="IANA zone for naive timestamps.",
)
def parse_command(files: tuple[str, ...], as_json: bool, timezone: str) -> None:
    """Show what the engine would store for each file, without a database."""
    ctx = ParseContext(default_tz=ingest.zone(timezone))
    rejected = 0
    for path in files:
        parsed = summarize(path, ctx)
        rejected += not parsed.accepted
        click.echo(report.parsed_json(parsed) if as_json else report.parsed_line(parsed))
    sys.exit(EXIT_FAILED if rejected else 0)


@main.command("uploads")
@click.option("--spool", type=click.Path(file_okay=False), help="Private dir for the run trees.")
@guarded
def uploads_command(spool: str | None) -> None:
    """Ingest files pushed to the web: each upload becomes a run, scanned and ingested as usual."""
    from testdash_engine import uploads

    _default_zone()
    sys.exit(uploads.main(spool))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@guarded
def status(as_json: bool) -> None:
    """Servers, runs, files accepted/rejected, results by status, queue by state."""
    data = report.status(db.session())
    click.echo(json.dumps(data, indent=2, default=str) if as_json else report.status_text(data))


@main.group()
def queue() -> None:
    """Inspect and clean the ingest queue."""


@queue.command("list")
@click.option("--state", help="Only items in this state.")
@click.option("--json", "as_json", is_flag=True)
@guarded
def queue_list(state: str | None, as_json: bool) -> None:
    """List queue items with their time to live."""
    click.echo(report.queue_listing(db.session(), state, as_json))


@queue.command("purge")
@click.option(
    "--ttl-over",
    type=Duration(),
    required=True,
    help="Delete pending items whose TTL is further away than this.",
)
@guarded
def queue_purge(ttl_over: timedelta) -> None:
    """Delete waiting items whose time to live is over --ttl-over away (the article's clean-up)."""
    from testdash_engine import persist

    deleted = persist.purge_queue(db.session(), ttl_over)
    db.session.commit()
    click.echo(f"purged {deleted} queue items with a time to live more than {ttl_over} away")


@main.group()
def files() -> None:
    """Inspect stored files."""


@files.command("list")
@click.option("--rejected", is_flag=True, help="Only rejected files, with their reasons.")
@click.option("--server", "server_name", help="Only this server.")
@click.option("--json", "as_json", is_flag=True)
@guarded
def files_list(rejected: bool, server_name: str | None, as_json: bool) -> None:
    """List files with format, status and any rejection reason."""
    click.echo(report.file_listing(db.session(), rejected, server_name, as_json))


@main.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write the demo volumes (default: instance/demo).",
)
@click.option("--runs", type=click.IntRange(1, 365), default=7, help="Runs per server.")
@guarded
def demo(root: str | None, runs: int) -> None:
    """Write demo result volumes for a few servers and ingest them (for a laptop)."""
    from pathlib import Path

    from testdash_engine import demo as demo_data

    default_tz = _default_zone()
    base = Path(root or os.path.join(current_app.instance_path, "demo"))
    if base.exists() and any(base.iterdir()):
        click.echo(f"demo volumes already in {base}; ingesting what changed")
    else:
        demo_data.generate(base, runs=runs)
        click.echo(f"wrote demo volumes to {base} (qa-lab holds one deliberately truncated file)")
    for server in sorted(p.name for p in base.iterdir() if p.is_dir()):
        scanned = _scan(server, str(base / server), None, None, None, None)
        report.summary(_ingest(server, None, scanned.files_seen or None, default_tz), scanned)


from testdash_engine.analytics_cli import COMMANDS as _ANALYTICS  # noqa: E402

for _command in _ANALYTICS:
    main.add_command(_command)
