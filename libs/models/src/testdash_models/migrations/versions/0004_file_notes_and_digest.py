"""files: non-fatal parse notes and an order-independent digest of their results

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 20:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("files") as batch_op:
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("results_digest", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("files") as batch_op:
        batch_op.drop_column("results_digest")
        batch_op.drop_column("notes")
