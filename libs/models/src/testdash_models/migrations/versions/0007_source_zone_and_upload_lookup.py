"""the report's own zone kept beside run and file times, uploads looked up by run

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00

Each of a run's (and a file's) start and end says what the report told of its zone: the
UTC offset it stated (minutes east), or the zone a naive time was read in (the server's
``--timezone``), or neither (epoch times: no zone at all). Rows ingested before stay NULL.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ZONE_COLUMNS = ("start_utc_offset", "start_assumed_zone", "end_utc_offset", "end_assumed_zone")


def zone_column(name):
    kind = sa.SmallInteger() if name.endswith("offset") else sa.String(length=64)
    return sa.Column(name, kind, nullable=True)


def upgrade():
    for table in ("runs", "files"):
        with op.batch_alter_table(table) as batch_op:
            for column in ZONE_COLUMNS:
                batch_op.add_column(zone_column(column))
    op.create_index("ix_uploads_server_run_dir", "uploads", ["server_name", "run_dir"])


def downgrade():
    op.drop_index("ix_uploads_server_run_dir", table_name="uploads")
    for table in ("files", "runs"):
        with op.batch_alter_table(table) as batch_op:
            for column in reversed(ZONE_COLUMNS):
                batch_op.drop_column(column)
