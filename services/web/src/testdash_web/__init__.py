"""testdash web: the dashboard and JSON API (``gunicorn 'testdash_web:create_app()'``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from testdash_models import create_base_app


def create_app(config_name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Make the web app: the base app plus the web's blueprints."""
    app = create_base_app(config_name, import_name=__name__, overrides=overrides)

    from testdash_web.views import health, home

    app.register_blueprint(health.bp)
    app.register_blueprint(home.bp)
    return app
