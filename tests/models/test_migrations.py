"""Migrations run on both backends and match the models."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_migrations_match_the_models(app, db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations drift; run `flask db migrate`: {diff}"


def test_migrations_are_at_head(app, db):
    from alembic.script import ScriptDirectory
    from flask_migrate import Config as _unused  # noqa: F401

    script = ScriptDirectory(app.extensions["migrate"].directory)
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == script.get_current_head()


def test_downgrade_then_upgrade_round_trips(app, db):
    from flask_migrate import downgrade, upgrade

    downgrade(revision="base")
    assert "results" not in sa.inspect(db.engine).get_table_names()
    upgrade()
    assert {"servers", "runs", "files", "test_cases", "results", "queue", "ingest_jobs"} <= set(
        sa.inspect(db.engine).get_table_names()
    )


def test_0007_zone_columns_and_uploads_lookup_come_and_go(app, db):
    from flask_migrate import downgrade, upgrade

    zones = {"start_utc_offset", "start_assumed_zone", "end_utc_offset", "end_assumed_zone"}

    def present():
        inspector = sa.inspect(db.engine)
        columns = {
            table: zones & {c["name"] for c in inspector.get_columns(table)}
            for table in ("runs", "files")
        }
        indexes = {i["name"] for i in inspector.get_indexes("uploads")}
        return columns, "ix_uploads_server_run_dir" in indexes

    assert present() == ({"runs": zones, "files": zones}, True)
    downgrade(revision="0006")
    assert present() == ({"runs": set(), "files": set()}, False)
    upgrade()
    assert present() == ({"runs": zones, "files": zones}, True)
