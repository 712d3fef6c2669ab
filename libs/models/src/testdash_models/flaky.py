"""Flaky tests: the settings, the windows and the figures, shared by the engine and the web.

The engine keeps each series' flaky tests in ``flaky_series`` and ``flaky_tests``
(``testdash_engine.persist.rollups``); the web ranks from them and reads one test's
evidence from its results. Both count with these functions and the same settings
(``FLAKY_*``), so both give the same figures. docs/analytics.md says how each is made.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

from testdash_models.config import ConfigError
from testdash_models.models import Result, Run

RULES = ("flips", "retries", "rate")
NAMES = (
    "FLAKY_WINDOW",
    "FLAKY_MIN_RUNS",
    "FLAKY_RULES",
    "FLAKY_MIN_FLIPS",
    "FLAKY_MIN_RETRIES",
    "FLAKY_RATE_LOW",
    "FLAKY_RATE_HIGH",
    "FLAKY_INFRA_SHARE",
)
MAX_WINDOW = 500
FAILING = ("failed", "error")
# A series' runs, newest first: its window is the first WINDOW of those with a test.
NEWEST_FIRST = (Run.started_at.desc().nulls_last(), Run.id.desc())


@dataclass(frozen=True)
class FlakySettings:
    """How flaky tests are detected in one server + run_tag's runs."""

    window: int = 30
    min_runs: int = 5
    rules: tuple[tuple[str, ...], ...] = (("flips",), ("retries",))  # any of, each all of
    min_flips: int = 3
    min_retries: int = 1
    rate_low: float = 0.05
    rate_high: float = 0.95
    infra_share: float = 0.5

    def check(self, where: str) -> FlakySettings:
        """These settings, or a ConfigError naming WHERE and the bad value."""
        if not 2 <= self.window <= MAX_WINDOW:
            raise ConfigError(f"{where}: window must be 2 to {MAX_WINDOW}")
        if unknown := {rule for clause in self.rules for rule in clause} - set(RULES):
            raise ConfigError(f"{where}: unknown rules {sorted(unknown)}; valid: {RULES}")
        if not 0 <= self.rate_low <= self.rate_high <= 1 or not 0 < self.infra_share <= 1:
            raise ConfigError(f"{where}: rates and shares must be fractions, low <= high")
        return self

    @cached_property
    def key(self) -> str:
        """These settings as canonical JSON: a roll-up made with other settings is stale."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def infra(self, total: int, failing: int) -> bool:
        """Whether a run of TOTAL tests, FAILING of them failed or errored, failed as a whole."""
        return failing > self.infra_share * total


@dataclass(frozen=True)
class FlakyConfig:
    """The default settings and the per server or server/run_tag overrides."""

    flaky: FlakySettings
    overrides: dict[str, FlakySettings]

    def flaky_for(self, server: str, run_tag: str | None) -> FlakySettings:
        """The settings of SERVER's RUN_TAG runs: server/run_tag, then server, then defaults."""
        return (
            self.overrides.get(f"{server}/{run_tag or ''}")
            or self.overrides.get(server)
            or self.flaky
        )

    @property
    def max_window(self) -> int:
        """The widest window any server uses."""
        return max(s.window for s in (self.flaky, *self.overrides.values()))


def parse_rules(text: str) -> tuple[tuple[str, ...], ...]:
    """``"flips+rate,retries"`` as ``(("flips", "rate"), ("retries",))``."""
    clauses = (tuple(r.strip() for r in c.split("+") if r.strip()) for c in text.split(","))
    return tuple(c for c in clauses if c)


def configured(config: Mapping[str, Any], name: str, environ: Mapping[str, str]) -> Any:
    """Setting NAME of CONFIG, overridden by the environment variable NAME (same type)."""
    value = config.get(name)
    raw = environ.get(name)
    if raw is None or value is None:
        return value
    try:
        return type(value)(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {type(value).__name__}, not {raw!r}") from None


def settings_from(values: dict[str, Any], base: FlakySettings, where: str) -> FlakySettings:
    """BASE with VALUES (settings' names without ``FLAKY_``, lower case) replaced, checked."""
    known = {f.name for f in fields(FlakySettings)}
    if unknown := set(values) - known:
        raise ConfigError(f"{where}: unknown settings {sorted(unknown)}; valid: {sorted(known)}")
    if isinstance(values.get("rules"), str):
        values = {**values, "rules": parse_rules(values["rules"])}
    try:
        return replace(base, **values).check(where)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> FlakyConfig:
    """``FLAKY_*`` from CONFIG, each overridden by the environment variable of its name."""
    environ = os.environ if environ is None else environ
    prefix = len("FLAKY_")
    values = {name: configured(config, name, environ) for name in NAMES}
    flaky = settings_from(
        {name[prefix:].lower(): value for name, value in values.items() if value is not None},
        FlakySettings(),
        "FLAKY_*",
    )
    try:
        raw = json.loads(configured(config, "FLAKY_OVERRIDES", environ) or "{}")
    except ValueError as exc:
        raise ConfigError(f"FLAKY_OVERRIDES is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError('FLAKY_OVERRIDES must be {"server" or "server/run_tag": {...}}')
    overrides = {
        key: settings_from(dict(value), flaky, f"FLAKY_OVERRIDES[{key!r}]")
        for key, value in raw.items()
    }
    return FlakyConfig(flaky, overrides)


def series_id(server_id: int, run_tag: str | None, branch: str | None) -> int:
    """The signed 64-bit id of a series (MD5: SQL can make it too, as the benchmark does)."""
    # "=" before a value tells a missing run_tag or branch from an empty one.
    parts = (str(server_id), *("" if v is None else "=" + v for v in (run_tag, branch)))
    key = "\x1f".join(parts)
    digest = hashlib.md5(key.encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def judge(
    settings: FlakySettings, runs: int, failures: int, flips: int, retries: int
) -> tuple[tuple[str, ...], float]:
    """The rules that fire for these figures (RUNS executions) and the score; none: ``()``, 0."""
    if runs < max(settings.min_runs, 1):
        return (), 0.0
    rate = failures / runs
    fired = {
        "flips": (flips >= settings.min_flips, flips / max(runs - 1, 1)),
        "retries": (retries >= settings.min_retries, retries / runs),
        "rate": (
            0 < rate and settings.rate_low <= rate <= settings.rate_high,
            2 * min(rate, 1 - rate),
        ),
    }
    clauses = [c for c in settings.rules if all(fired[rule][0] for rule in c)]
    rules = tuple(sorted({rule for clause in clauses for rule in clause}))
    return rules, round(max((fired[r][1] for r in rules), default=0.0), 4)


def impact(score: float, runs: int) -> float:
    """Flakiness times executions: how much of the suite's noise a test makes."""
    return round(score * runs, 3)


def figures(session: Session, run_ids: Sequence[int]) -> list[Any]:
    """Executions, failures, flips and retries per (test, series) in RUN_IDS, counted in SQL.

    Only tests with a failed or errored result (any attempt) in their series' runs
    among RUN_IDS are read (``ix_results_run_status`` finds those), and only pairs with a
    failure or a retry come back; ``lag()`` finds flips.
    """
    ids = list(run_ids)
    failing = case((Result.status.in_(FAILING), 1), else_=0)
    # Final, not skipped: an execution. Other rows (earlier attempts) only say a test failed.
    counts = case(((Result.final.is_(True)) & (Result.status != "skipped"), 1), else_=0)
    retried = case((Result.flaky.is_(True) | (Result.attempt > 1), 1), else_=0)
    series = (Result.test_case_id, Run.server_id, Run.run_tag, Run.branch)
    failed = (
        select(Result.test_case_id)
        .where(Result.run_id.in_(ids), Result.status.in_(FAILING))
        .distinct()
        .cte("failed")
    )
    executions = (
        select(
            *series,
            counts.label("counts"),
            failing.label("failing"),
            (retried * (1 - failing) * counts).label("retried"),
            # Executions and other rows in partitions of their own: lag() sees executions only.
            func.lag(failing)
            .over(
                partition_by=(*series, counts),
                order_by=(Run.started_at.asc().nulls_first(), Run.id),
            )
            .label("previous"),
        )
        .join(Run, Run.id == Result.run_id)
        .where(Result.run_id.in_(ids), Result.test_case_id.in_(select(failed.c.test_case_id)))
        .subquery()
    )
    e = executions.c
    flipped = case(
        ((e.counts == 1) & e.previous.is_not(None) & (e.previous != e.failing), 1), else_=0
    )
    counted = (
        select(
            e.test_case_id,
            e.server_id,
            e.run_tag,
            e.branch,
            func.sum(e.counts).label("runs"),
            func.sum(e.failing * e.counts).label("failures"),
            func.sum(flipped).label("flips"),
            func.sum(e.retried).label("retries"),
            func.max(e.failing).label("failed"),  # any attempt failed in this series
        )
        .group_by(e.test_case_id, e.server_id, e.run_tag, e.branch)
        .subquery()
    )
    c = counted.c
    # No join back to the failures (with NULL-safe keys the planner could only nest loops,
    # and a run of 763,000 tests without statistics yet made that quadratic): whether a
    # test failed in a series is counted with the rest.
    stmt = select(
        c.test_case_id, c.server_id, c.run_tag, c.branch, c.runs, c.failures, c.flips, c.retries
    ).where(c.failed > 0, (c.failures > 0) | (c.retries > 0))
    if session.get_bind().dialect.name != "postgresql":
        return list(session.execute(stmt).all())
    # Right after a big ingest the new rows have no statistics yet; planned as nested loops
    # over a run of 763,000 tests this ran for over 20 minutes. Hash and merge joins cost the
    # same on small windows, so only they are allowed for this one statement.
    session.execute(text("SET LOCAL enable_nestloop = off"))
    try:
        return list(session.execute(stmt).all())
    finally:
        session.execute(text("SET LOCAL enable_nestloop TO DEFAULT"))
