"""Unbound extension singletons, attached to an app with ``init_app``."""

from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention for constraints."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LazyMigrate:
    """Flask-Migrate's ``Migrate``, imported the first time a migration needs it.

    Importing Flask-Migrate imports Alembic, about 0.15 s of every engine start-up
    (a CronJob per server, every 15 minutes) that only ``db`` commands and the
    readiness check use. ``init_app`` records the app; the real ``Migrate`` is made
    when anything reads ``app.extensions["migrate"]``, so Flask-Migrate's commands
    and ``migrations/env.py`` work unchanged.
    """

    def init_app(self, app: Flask, db: SQLAlchemy, directory: str) -> None:
        """Register the app; Flask-Migrate itself is attached on first use."""
        app.extensions["migrate"] = _PendingMigrate(app, db, directory)


class _PendingMigrate:
    """Stands in ``app.extensions["migrate"]`` until something asks for it."""

    def __init__(self, app: Flask, db: SQLAlchemy, directory: str) -> None:
        self.app, self.db, self.directory = app, db, directory

    def __getattr__(self, name: str) -> Any:
        from flask_migrate import Migrate

        Migrate(self.app, self.db, directory=self.directory)  # replaces this placeholder
        return getattr(self.app.extensions["migrate"], name)


db = SQLAlchemy(model_class=Base)
migrate = LazyMigrate()
