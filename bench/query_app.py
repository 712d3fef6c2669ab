"""The web benchmark's floor of a computed answer: one query through the project's stack.

gunicorn -c python:testdash_web.gunicorn_conf --chdir bench 'query_app:create_app()'

The models' base app (production config: the same pool, pre-ping and session) with one
route that reads one row and answers a constant: what every page that reads the database
pays at the least, before its own queries and template.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import text
from testdash_models import create_base_app, db


def create_app() -> Flask:
    """The base app plus ``/``: ``SELECT 1`` in a session, then a constant short text."""
    app = create_base_app(import_name=__name__)

    @app.get("/")
    def index() -> str:
        db.session.execute(text("SELECT 1")).scalar_one()
        return "ok"

    return app
