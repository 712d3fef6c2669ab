"""The base app factory both services build on."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from testdash_models.config import get_config
from testdash_models.extensions import db, migrate

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


def create_base_app(
    config_name: str | None = None,
    *,
    import_name: str = "testdash_models",
    overrides: Mapping[str, Any] | None = None,
) -> Flask:
    """Make an app with the config named by CONFIG_NAME or FLASK_CONFIG and the db attached."""
    config = get_config(config_name or os.environ.get("FLASK_CONFIG"))
    instance_path = os.environ.get("TESTDASH_INSTANCE_PATH") or os.path.join(
        os.getcwd(), "instance"
    )
    app = Flask(import_name, instance_path=os.path.abspath(instance_path))
    app.config.from_object(config)
    app.config["CONFIG_NAME"] = config.NAME
    app.config.update(config.resolve(app.instance_path))
    app.config.update(overrides or {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    from testdash_models import models  # noqa: F401  (registers the tables on db.metadata)

    return app


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Pool settings fit for a managed PostgreSQL; SQLite keeps SQLAlchemy's defaults."""
    url: str = config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        return {}
    connect_args: dict[str, Any] = {
        "connect_timeout": config["DB_CONNECT_TIMEOUT"],
        "application_name": config.get("APPLICATION_NAME", "testdash"),
    }
    if config.get("DB_SESSION_OPTIONS"):
        connect_args["options"] = config["DB_SESSION_OPTIONS"]
    return {
        "pool_pre_ping": True,
        "pool_recycle": config["DB_POOL_RECYCLE"],
        "pool_size": config["DB_POOL_SIZE"],
        "max_overflow": config["DB_MAX_OVERFLOW"],
        "pool_timeout": config["DB_POOL_TIMEOUT"],
        "connect_args": connect_args,
    }


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Foreign keys on and a busy timeout, so the dev server and the engine can share a file."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
