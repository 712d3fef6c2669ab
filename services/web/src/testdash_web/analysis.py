"""Settings of the analyses (flaky tests, run comparison), with per-server overrides.

The flaky-test settings are ``testdash_models.flaky``'s: the engine keeps its roll-up
of flaky tests with the very same ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import current_app
from flask.sansio.app import App
from testdash_models import flaky
from testdash_models.flaky import FlakyConfig, FlakySettings, parse_rules

__all__ = ["Analysis", "FlakySettings", "init_app", "load", "parse_rules", "settings"]

COMPARE_NAMES = ("COMPARE_SLOWER_FACTOR", "COMPARE_SLOWER_SECONDS")


@dataclass(frozen=True)
class Analysis(FlakyConfig):
    """Every analysis setting of an app, read once."""

    slower_factor: float
    slower_seconds: float


def load(app: App) -> Analysis:
    """Read the settings from the app's config, overridden by the environment."""
    found = flaky.load(app.config)
    compare = {name: flaky.configured(app.config, name, os.environ) for name in COMPARE_NAMES}
    return Analysis(
        found.flaky,
        found.overrides,
        float(compare["COMPARE_SLOWER_FACTOR"] or 1.5),
        float(compare["COMPARE_SLOWER_SECONDS"] or 1.0),
    )


def init_app(app: App) -> None:
    """Read and check the settings when the app is made, so a bad one fails at start."""
    app.extensions["testdash.analysis"] = load(app)


def settings() -> Analysis:
    """The current app's analysis settings."""
    analysis: Analysis = current_app.extensions["testdash.analysis"]
    return analysis
