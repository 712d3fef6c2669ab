"""results: a fingerprint of each failure's normalised message and type, for clusters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable with no default: PostgreSQL adds it without rewriting the table.
    with op.batch_alter_table("results") as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.BigInteger(), nullable=True))
    # Partial: only failures carry a fingerprint, so the index stays a small share of the table.
    where = sa.text("fingerprint IS NOT NULL")
    op.create_index(
        "ix_results_fingerprint",
        "results",
        ["fingerprint", "run_id"],
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade():
    op.drop_index("ix_results_fingerprint", table_name="results")
    with op.batch_alter_table("results") as batch_op:
        batch_op.drop_column("fingerprint")
