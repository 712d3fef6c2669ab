"""Settings of the analyses (flaky tests, run comparison), with per-server overrides."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields, replace
from typing import Any

from flask import current_app
from flask.sansio.app import App
from testdash_models.config import ConfigError

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
    "FLAKY_OVERRIDES",
    "COMPARE_SLOWER_FACTOR",
    "COMPARE_SLOWER_SECONDS",
)
MAX_WINDOW = 500


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


@dataclass(frozen=True)
class Analysis:
    """Every analysis setting of an app, read once."""

    flaky: FlakySettings
    overrides: dict[str, FlakySettings]
    slower_factor: float
    slower_seconds: float

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


def _typed(name: str, raw: str, default: Any) -> Any:
    try:
        return type(default)(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {type(default).__name__}, not {raw!r}") from None


def _flaky(values: dict[str, Any], base: FlakySettings, where: str) -> FlakySettings:
    known = {f.name for f in fields(FlakySettings)}
    if unknown := set(values) - known:
        raise ConfigError(f"{where}: unknown settings {sorted(unknown)}; valid: {sorted(known)}")
    if isinstance(values.get("rules"), str):
        values = {**values, "rules": parse_rules(values["rules"])}
    try:
        return replace(base, **values).check(where)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load(app: App) -> Analysis:
    """Read the settings from the app's config, overridden by the environment."""
    config = {name: app.config.get(name) for name in NAMES}
    for name in NAMES:
        raw = os.environ.get(name)
        if raw is not None and config[name] is not None:
            config[name] = _typed(name, raw, config[name])
    prefix = len("FLAKY_")
    flaky = _flaky(
        {
            name[prefix:].lower(): config[name]
            for name in NAMES
            if name.startswith("FLAKY_") and name != "FLAKY_OVERRIDES" and config[name] is not None
        },
        FlakySettings(),
        "FLAKY_*",
    )
    try:
        raw_overrides = json.loads(config["FLAKY_OVERRIDES"] or "{}")
    except ValueError as exc:
        raise ConfigError(f"FLAKY_OVERRIDES is not JSON: {exc}") from None
    if not isinstance(raw_overrides, dict):
        raise ConfigError('FLAKY_OVERRIDES must be {"server" or "server/run_tag": {...}}')
    overrides = {
        key: _flaky(dict(value), flaky, f"FLAKY_OVERRIDES[{key!r}]")
        for key, value in raw_overrides.items()
    }
    return Analysis(
        flaky,
        overrides,
        float(config["COMPARE_SLOWER_FACTOR"] or 1.5),
        float(config["COMPARE_SLOWER_SECONDS"] or 1.0),
    )


def init_app(app: App) -> None:
    """Read and check the settings when the app is made, so a bad one fails at start."""
    app.extensions["testdash.analysis"] = load(app)


def settings() -> Analysis:
    """The current app's analysis settings."""
    analysis: Analysis = current_app.extensions["testdash.analysis"]
    return analysis
