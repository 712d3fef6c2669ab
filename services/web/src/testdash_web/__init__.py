"""testdash web: the dashboard and JSON API (``gunicorn 'testdash_web:create_app()'``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from testdash_models import create_base_app


def create_app(config_name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Make the web app: the base app plus the web's settings, headers and blueprints."""
    app = create_base_app(config_name, import_name=__name__, overrides=overrides)

    from testdash_web import api, headers, metrics, pagecache, settings, templating
    from testdash_web.views import analytics, health, ingest, overview, runs, search, tests

    pagecache.init_app(app)  # before ProxyFix (settings) and the security headers
    settings.init_app(app)
    metrics.init_app(app)
    headers.init_app(app)
    templating.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(overview.bp)
    app.register_blueprint(runs.bp)
    app.register_blueprint(tests.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(ingest.bp)
    app.register_blueprint(analytics.bp)
    api.init_app(app)
    from testdash_web import auth
    from testdash_web.views import auth as auth_views
    from testdash_web.views import cluster, downloads, uploads

    auth.init_app(app)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(cluster.bp)
    app.register_blueprint(downloads.bp)
    from testdash_web.views import curation
    from testdash_web.views import trends as trend_views

    app.register_blueprint(trend_views.bp)
    app.register_blueprint(curation.bp)
    return app
