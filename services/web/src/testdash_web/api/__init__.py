"""The JSON API under ``/api/v1``: every page's data, keyset-paginated, described by OpenAPI."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from testdash_web.api import (
    analytics,  # noqa: F401  (adds its routes to bp)
    trends,  # noqa: F401  (adds its routes to bp)
)
from testdash_web.api.routes import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Register the API; errors are JSON under /api (even before routing), pages elsewhere."""
    app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    def errors(error: HTTPException) -> tuple[Response | str, int]:
        if request.path.startswith(bp.url_prefix or "/api/"):
            return jsonify(error=error.name, message=error.description), error.code or 500
        return render_template("error.html", error=error), error.code or 500
