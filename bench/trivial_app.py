"""The web benchmark's yardstick: a one-route Flask app run on the same gunicorn setup.

gunicorn -c python:testdash_web.gunicorn_conf --chdir bench 'trivial_app:create_app()'
"""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    """A Flask app whose only page is a constant short text."""
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return "ok"

    return app
