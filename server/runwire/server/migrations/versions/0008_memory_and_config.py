"""memory and config

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('memories',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('type', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('agent_id', sa.String(length=63), nullable=True),
    sa.Column('session_id', sa.String(length=63), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('expire_time', sa.DateTime(), nullable=True),
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('update_time', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('memories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memories_expire_time'), ['expire_time'], unique=False)
        batch_op.create_index('ix_memories_owner_agent', ['owner', 'agent_id'], unique=False)
        batch_op.create_index('ix_memories_owner_create_time', ['owner', 'create_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_memories_owner'), ['owner'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('memories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memories_owner'))
        batch_op.drop_index('ix_memories_owner_create_time')
        batch_op.drop_index('ix_memories_owner_agent')
        batch_op.drop_index(batch_op.f('ix_memories_expire_time'))

    op.drop_table('memories')
