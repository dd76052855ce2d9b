"""mcp servers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mcp_servers',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('update_time', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('transport', sa.JSON(), nullable=False),
    sa.Column('transport_kind', sa.String(length=10), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('call_timeout_seconds', sa.Double(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.JSON(), nullable=False),
    sa.Column('last_error_time', sa.DateTime(), nullable=True),
    sa.Column('restart_count', sa.Integer(), nullable=False),
    sa.Column('ready_time', sa.DateTime(), nullable=True),
    sa.Column('tools', sa.JSON(), nullable=False),
    sa.Column('tools_time', sa.DateTime(), nullable=True),
    sa.Column('protocol_version', sa.String(length=40), nullable=False),
    sa.Column('server_version', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('mcp_servers', schema=None) as batch_op:
        batch_op.create_index('ix_mcp_servers_create_time', ['create_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_mcp_servers_owner'), ['owner'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mcp_servers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mcp_servers_owner'))
        batch_op.drop_index('ix_mcp_servers_create_time')

    op.drop_table('mcp_servers')
