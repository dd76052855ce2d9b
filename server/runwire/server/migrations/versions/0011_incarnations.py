"""resource incarnations for etags

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A resource deleted and created again under the same name starts at revision 1
again; its etag also covers `incarnation`, drawn when the row is created, so
no etag of the old resource matches the new one. Rows from before this
revision keep "" and the etags they had.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLES = ('agents', 'sessions', 'messages', 'runs', 'api_keys', 'files', 'mcp_servers', 'memories', 'batches', 'secrets')


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: SQLite does it in place, keeping the tables' triggers.
    for table in TABLES:
        op.add_column(table, sa.Column('incarnation', sa.String(length=32), server_default='', nullable=False))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('incarnation')
