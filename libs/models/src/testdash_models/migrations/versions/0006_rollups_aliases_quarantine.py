"""roll-ups kept at ingest (per run, per test and day), rename aliases, quarantine

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

The roll-ups start empty: ``testdash-engine rollup`` fills them for runs ingested
before this migration (``prune`` also rolls up a run before deleting its results).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "run_rollups",
        sa.Column("run_id", BIGID, autoincrement=False, nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("run_tag", sa.String(length=256), nullable=True),
        sa.Column("branch", sa.String(length=256), nullable=True),
        sa.Column("at", WHEN, nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("total", "passed", "failed", "errors", "skipped", "flaky")
        ),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("rolled_at", WHEN, nullable=False),
        sa.Column("pruned_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_run_rollups_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_rollups")),
    )
    op.create_index("ix_run_rollups_server_at", "run_rollups", ["server_id", "at"])
    op.create_table(
        "test_daily",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("test_case_id", sa.BigInteger(), autoincrement=False, nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("executions", "failures", "flaky", "timed")
        ),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_test_daily_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", "day", "test_case_id", name=op.f("pk_test_daily")),
    )
    op.create_index("ix_test_daily_day", "test_daily", ["day"])
    op.create_table(
        "test_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("old_id", sa.BigInteger(), nullable=False),
        sa.Column("new_id", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("old_id <> new_id", name=op.f("ck_test_aliases_not_self")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_aliases")),
        sa.UniqueConstraint("old_id", name=op.f("uq_test_aliases_old_id")),
    )
    op.create_index("ix_test_aliases_new_id", "test_aliases", ["new_id"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("test_case_id", sa.BigInteger(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=True),
        sa.Column("branch", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("lifted_at", WHEN, nullable=True),
        sa.Column("lifted_by", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_quarantine_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_index("ix_quarantine_test", "quarantine", ["test_case_id"])


def downgrade():
    op.drop_index("ix_quarantine_test", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index("ix_test_aliases_new_id", table_name="test_aliases")
    op.drop_table("test_aliases")
    op.drop_index("ix_test_daily_day", table_name="test_daily")
    op.drop_table("test_daily")
    op.drop_index("ix_run_rollups_server_at", table_name="run_rollups")
    op.drop_table("run_rollups")
