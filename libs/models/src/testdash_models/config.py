"""Configuration classes chosen by ``FLASK_CONFIG``.

Class bodies hold defaults only. Secrets and the database URL are read when an
app is made (``Config.resolve``), so importing this module never needs them and
production fails fast, naming the missing variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

POSTGRES_VARS = ("POSTGRES_USER", "POSTGRES_PASS", "POSTGRES_DB_NAME", "POSTGRES_HOST")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message says which and how to fix it."""


def whole_number(name: str, raw: str) -> int:
    """RAW, the value of setting NAME, as an int; a ConfigError naming it otherwise."""
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def env_int(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """The environment variable NAME as an int, DEFAULT when unset or empty."""
    raw = (os.environ if environ is None else environ).get(name)
    return whole_number(name, raw) if raw else default


def env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Read NAME from the environment, or from the file named by NAME_FILE."""
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value:
        return value
    path = environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path} cannot be read: {exc.strerror}") from None


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` (SQLAlchemy rejects it) and use psycopg2 for bare PostgreSQL URLs.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; the images ship psycopg2.
    """
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def postgres_url_from_parts(environ: Mapping[str, str] | None = None) -> str:
    """Build a PostgreSQL URL from the article's ``POSTGRES_*`` variables."""
    values = {name: env(name, environ) for name in (*POSTGRES_VARS, "POSTGRES_PORT")}
    missing = [name for name in POSTGRES_VARS if not values[name]]
    if missing:
        raise ConfigError(
            "production needs DATABASE_URL or the POSTGRES_* variables; missing: "
            + ", ".join(missing)
            + " (each may also be given as NAME_FILE, a path to a mounted secret)"
        )
    user = quote(values["POSTGRES_USER"] or "", safe="")
    password = quote(values["POSTGRES_PASS"] or "", safe="")
    port = values["POSTGRES_PORT"] or "5432"
    url = (
        f"postgresql+psycopg2://{user}:{password}@{values['POSTGRES_HOST']}:{port}"
        f"/{quote(values['POSTGRES_DB_NAME'] or '', safe='')}"
    )
    sslmode = env("POSTGRES_SSLMODE", environ)
    return f"{url}?sslmode={sslmode}" if sslmode else url


class Config:
    """Defaults shared by every configuration."""

    NAME: ClassVar[str] = "base"
    SECRET_KEY: str | None = None
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    DB_POOL_SIZE = 5
    DB_MAX_OVERFLOW = 5
    DB_POOL_RECYCLE = 1800
    DB_POOL_TIMEOUT = 30
    DB_CONNECT_TIMEOUT = 10
    QUEUE_TTL_HOURS = 24
    DEFAULT_TIMEZONE = "UTC"
    RUN_DEPTH = 1
    # Rows per COPY batch (files are never split between batches unless one is larger).
    # 10,000 measured 7 % faster than 5,000 on a server of the ingest benchmark (fewer
    # commits and per-batch statements), and no faster at 20,000 (bench/README.md).
    BATCH_SIZE = 10000
    # Engine processes that parse files beside the one writing batches (PostgreSQL only);
    # -1: one per CPU this process may use, at most 4; 0: parse in the engine process.
    # Off by default: on 2 cores, next to PostgreSQL, they measured slower (bench/README.md).
    PARSE_WORKERS = 0
    # Access, uploads and Kubernetes (issue 4, write side); an env variable of the same
    # name overrides each one (see ACCESS_SETTINGS). Rate limits are per process.
    READ_REQUIRES_AUTH = False  # every page and API answer needs sign-in or a token
    SESSION_COOKIE_SECURE = False  # production: True, the cookie travels over HTTPS only
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 12 * 3600  # seconds a browser sign-in lasts
    TRUSTED_PROXIES = ""  # comma-separated networks whose X-Forwarded-User is believed
    PROXY_USER_HEADER = "X-Forwarded-User"
    PROXY_GROUPS_HEADER = "X-Forwarded-Groups"
    PROXY_ADMIN_GROUP = "testdash-admins"
    SIGNIN_MAX_FAILURES = 5  # per client address per SIGNIN_WINDOW_SECONDS
    SIGNIN_WINDOW_SECONDS = 300
    UPLOADS_PER_MINUTE = 30  # per credential
    UPLOAD_MAX_BYTES = 100 * 1024 * 1024  # one upload's files, expanded
    UPLOAD_MAX_FILE_BYTES = 50 * 1024 * 1024
    UPLOAD_MAX_FILES = 500
    UPLOAD_MAX_RATIO = 200  # expanded/compressed size beyond which an archive is a bomb
    UPLOAD_SPOOL_DIR = ""  # engine: where uploads become a run tree; default instance/upload-spool
    K8S_API_URL = ""  # an API server to use instead of the in-cluster one (kubectl proxy, tests)
    K8S_NAMESPACE = ""  # default: the pod's own namespace
    K8S_CRONJOB_SELECTOR = "app.kubernetes.io/name=testdash,app.kubernetes.io/component=engine"
    K8S_UPLOADS_CRONJOB = "testdash-uploads"
    # Analytics (issue 5, part B; docs/analytics.md). Retention: 0 days keeps for ever.
    RETENTION_DAYS = 180  # results of runs older than this are pruned (roll-ups stay)
    RETENTION_SERVER_DAYS = ""  # per-server overrides: "qa-lab=30,perf=365"
    RETENTION_REJECTED_FILE_DAYS = 30  # rejected file rows (a file still there is seen again)
    RETENTION_QUEUE_DAYS = 7  # done, failed and expired queue items
    RETENTION_BATCH_RUNS = 20  # runs whose results one prune transaction deletes
    OWNERS_FILE = ""  # CODEOWNERS-style rules: pattern over suite/class/name -> teams
    # Flaky tests and run comparison (docs/analytics.md); an env variable of the same name
    # overrides each. FLAKY_OVERRIDES: JSON {"server" or "server/run_tag": {"window": 50, ...}}.
    FLAKY_WINDOW = 30  # the last N runs of the same server + run_tag (+ branch)
    FLAKY_MIN_RUNS = 5  # executions in the window before a test can be called flaky
    FLAKY_RULES = "flips,retries"  # "," any of, "+" all of: "flips+rate,retries"
    FLAKY_MIN_FLIPS = 3  # pass/fail changes between consecutive executions
    FLAKY_MIN_RETRIES = 1  # runs in which it passed on a retry
    FLAKY_RATE_LOW = 0.05  # failure rate bounds of the rate rule
    FLAKY_RATE_HIGH = 0.95
    FLAKY_INFRA_SHARE = 0.5  # a run with more than this share failing is an infrastructure failure
    FLAKY_OVERRIDES = ""
    COMPARE_SLOWER_FACTOR = 1.5  # a duration regression is slower by both this factor
    COMPARE_SLOWER_SECONDS = 1.0  # and this many seconds

    @classmethod
    def database_url(cls, instance_path: str, environ: Mapping[str, str]) -> str:
        """The database URL for this configuration."""
        url = env("DATABASE_URL", environ)
        if url:
            return normalise_database_url(url)
        return "sqlite:///" + os.path.join(instance_path, f"data-{cls.NAME}.sqlite")

    @classmethod
    def resolve(
        cls, instance_path: str, environ: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Settings read when an app is made: the database URL and pool options."""
        environ = os.environ if environ is None else environ
        settings: dict[str, Any] = {}
        for name in (
            "DB_POOL_SIZE",
            "DB_MAX_OVERFLOW",
            "DB_POOL_RECYCLE",
            "QUEUE_TTL_HOURS",
            "PARSE_WORKERS",
        ):
            if environ.get(name):
                settings[name] = env_int(name, 0, environ)
        if environ.get("DEFAULT_TIMEZONE"):
            settings["DEFAULT_TIMEZONE"] = environ["DEFAULT_TIMEZONE"]
        settings["SECRET_KEY"] = env("SECRET_KEY", environ) or cls.SECRET_KEY
        settings["SQLALCHEMY_DATABASE_URI"] = cls.database_url(instance_path, environ)
        settings.update(_access_settings(cls, environ))
        return settings


ACCESS_SETTINGS = [
    name
    for name in vars(Config)
    if name.startswith(
        ("READ_", "SESSION_", "PERMANENT_", "TRUSTED_", "PROXY_", "SIGNIN_", "UPLOAD", "K8S_")
        + ("RETENTION_", "OWNERS_")
    )
]


def _access_settings(cls: type[Config], environ: Mapping[str, str]) -> dict[str, Any]:
    """Environment overrides of the access settings, typed like their defaults."""
    settings: dict[str, Any] = {}
    for name in ACCESS_SETTINGS:
        raw = environ.get(name)
        if raw is None:
            continue
        default = getattr(cls, name)
        if isinstance(default, bool):
            settings[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            settings[name] = whole_number(name, raw)
        else:
            settings[name] = raw
    return settings


class DevelopmentConfig(Config):
    """A laptop: SQLite file ``data-dev.sqlite`` in the instance folder."""

    NAME = "dev"
    DEBUG = True
    SECRET_KEY = "development-only-not-secret"


class TestingConfig(Config):
    """The test suite: ``TEST_DATABASE_URL`` or an in-memory SQLite database."""

    NAME = "test"
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"

    @classmethod
    def database_url(cls, instance_path: str, environ: Mapping[str, str]) -> str:
        """The test database: TEST_DATABASE_URL, DATABASE_URL or in-memory SQLite."""
        url = env("TEST_DATABASE_URL", environ) or env("DATABASE_URL", environ)
        return normalise_database_url(url) if url else "sqlite://"


class ProductionConfig(Config):
    """A cluster: PostgreSQL from ``DATABASE_URL`` or the ``POSTGRES_*`` variables."""

    NAME = "production"
    SESSION_COOKIE_SECURE = True

    @classmethod
    def database_url(cls, instance_path: str, environ: Mapping[str, str]) -> str:
        """DATABASE_URL, else a URL built from POSTGRES_*; never a silent SQLite."""
        url = env("DATABASE_URL", environ)
        return normalise_database_url(url) if url else postgres_url_from_parts(environ)


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None) -> type[Config]:
    """The config class for NAME (default ``development``); unknown names fail clearly."""
    name = name or "development"
    try:
        return CONFIGS[name]
    except KeyError:
        valid = ", ".join(CONFIGS)
        raise ConfigError(f"unknown FLASK_CONFIG {name!r}; valid names: {valid}") from None
