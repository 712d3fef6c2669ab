"""flaky tests kept at ingest: each series' window counted, its flaky tests and their figures

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 10:00:00

The tables start empty: ``testdash-engine rollup`` counts every series once after this
migration; until then the flaky ranking lists only series with a run ingested since.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "flaky_series",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("run_tag", sa.String(length=256), nullable=True),
        sa.Column("branch", sa.String(length=256), nullable=True),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("infra", sa.Integer(), nullable=False),
        sa.Column("rolled_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_flaky_series_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flaky_series")),
    )
    op.create_index("ix_flaky_series_server", "flaky_series", ["server_id"])
    op.create_table(
        "flaky_tests",
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("test_case_id", sa.BigInteger(), autoincrement=False, nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("executions", "failures", "flips", "retries")
        ),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("impact", sa.Float(), nullable=False),
        sa.Column("rules", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["flaky_series.id"],
            name=op.f("fk_flaky_tests_series_id_flaky_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "test_case_id", name=op.f("pk_flaky_tests")),
    )
    op.create_index("ix_flaky_tests_rank", "flaky_tests", ["impact", "score", "test_case_id"])


def downgrade():
    op.drop_index("ix_flaky_tests_rank", table_name="flaky_tests")
    op.drop_table("flaky_tests")
    op.drop_index("ix_flaky_series_server", table_name="flaky_series")
    op.drop_table("flaky_series")
