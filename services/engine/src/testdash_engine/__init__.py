"""testdash engine: finds test-result files on a build server and stores them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from testdash_models import create_base_app


def create_app(config_name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Make the engine's app: the base app with the models in the shell context."""
    engine_defaults = {
        "APPLICATION_NAME": "testdash-engine",
        # Commits need not wait for the WAL flush: a commit lost in a server crash
        # loses its file rows with it, so the next scan ingests those files again.
        "DB_SESSION_OPTIONS": "-c synchronous_commit=off",
    }
    app = create_base_app(
        config_name, import_name=__name__, overrides={**engine_defaults, **(overrides or {})}
    )

    @app.shell_context_processor
    def shell_context() -> dict[str, Any]:
        from datetime import UTC, datetime, timedelta

        from testdash_models import db, models

        names = {name: getattr(models, name) for name in models.__all__}
        return {"db": db, "datetime": datetime, "timedelta": timedelta, "UTC": UTC, **names}

    return app
