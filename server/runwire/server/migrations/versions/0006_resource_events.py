"""resource events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resource_events',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('principal', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=300), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('resource_events', schema=None) as batch_op:
        batch_op.create_index('ix_resource_events_principal_pk', ['principal', 'pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_events_create_time'), ['create_time'], unique=False)

    op.create_table('event_subscriptions',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('acked_pk', sa.Integer(), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('use_time', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('owner', 'name', name='uq_event_subscriptions_owner_name')
    )
    with op.batch_alter_table('event_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_subscriptions_use_time'), ['use_time'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('event_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_subscriptions_use_time'))
    op.drop_table('event_subscriptions')
    with op.batch_alter_table('resource_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_events_create_time'))
        batch_op.drop_index('ix_resource_events_principal_pk')
    op.drop_table('resource_events')
