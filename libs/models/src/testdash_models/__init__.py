"""testdash models, configuration and migrations shared by the engine and the web."""

from testdash_models.extensions import db, migrate
from testdash_models.factory import create_base_app

__all__ = ["create_base_app", "db", "migrate"]
