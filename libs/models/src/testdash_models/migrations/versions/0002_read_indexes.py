"""indexes for the dashboard: trigram search on test names, user_tag, recent ingest jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # A GIN trigram index answers name ILIKE '%substring%' on millions of test cases.
        op.create_index(
            "ix_test_cases_name_trgm",
            "test_cases",
            ["name"],
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        )
    else:
        # SQLite has no trigram index; a plain index keeps the schema equal to the models.
        op.create_index("ix_test_cases_name_trgm", "test_cases", ["name"])
    op.create_index("ix_runs_user_tag", "runs", ["user_tag"])
    op.create_index("ix_ingest_jobs_started", "ingest_jobs", ["started_at"])


def downgrade():
    op.drop_index("ix_ingest_jobs_started", table_name="ingest_jobs")
    op.drop_index("ix_runs_user_tag", table_name="runs")
    op.drop_index("ix_test_cases_name_trgm", table_name="test_cases")
