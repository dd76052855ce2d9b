"""run and batch leases

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Every run that executes or waits, and every batch being driven, has one owner process: `lease_owner`
holds it until `lease_expires` (renewed by its heartbeats), and `fence` grows at every claim, so a
process that lost the lease can write nothing more. Rows from before this revision have no lease: the
first claim pass takes them.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

TABLES = ('runs', 'batches')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('lease_owner', sa.String(length=200), server_default='', nullable=False))
            batch.add_column(sa.Column('lease_expires', sa.DateTime(), nullable=True))
            batch.add_column(sa.Column('fence', sa.Integer(), server_default='0', nullable=False))
        op.create_index(f'ix_{table}_lease_expires', table, ['lease_expires'], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f'ix_{table}_lease_expires', table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column('fence')
            batch.drop_column('lease_expires')
            batch.drop_column('lease_owner')
