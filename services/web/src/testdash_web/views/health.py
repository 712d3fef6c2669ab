"""Liveness and readiness for Kubernetes probes."""

from __future__ import annotations

from functools import cache

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from testdash_models import db

bp = Blueprint("health", __name__)


@cache
def head_revisions(directory: str) -> frozenset[str]:
    """The migration heads shipped with this code (read once: the files never change)."""
    return frozenset(ScriptDirectory(directory).get_heads())


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is alive; never touches the database."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The database answers and its schema is at the migrations' head; 503 with the reason."""
    try:
        db.session.execute(text("SELECT 1"))
        current = frozenset(MigrationContext.configure(db.session.connection()).get_current_heads())
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify(status="unavailable", reason=str(exc.__class__.__name__)), 503
    expected = head_revisions(current_app.extensions["migrate"].directory)
    if current != expected:
        reason = f"database at {sorted(current) or 'no revision'}, code expects {sorted(expected)}"
        return jsonify(status="unavailable", reason=reason), 503
    return jsonify(status="ready")
