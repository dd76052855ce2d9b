"""server messaging: messages, their deliveries, and API key scopes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('server_messages',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('sender', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Integer(), nullable=False),
    sa.Column('recipient_kind', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=300), nullable=False),
    sa.Column('resource', sa.String(length=300), nullable=False),
    sa.Column('connection_id', sa.String(length=64), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('expire_time', sa.DateTime(), nullable=False),
    sa.Column('answer', sa.LargeBinary(), nullable=True),
    sa.Column('answered_by', sa.String(length=200), nullable=False),
    sa.Column('answer_time', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('server_messages', schema=None) as batch_op:
        batch_op.create_index('ix_server_messages_sender_create_time', ['sender', 'create_time'], unique=False)
        batch_op.create_index('ix_server_messages_recipient_kind_expire_time', ['recipient_kind', 'expire_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_server_messages_expire_time'), ['expire_time'], unique=False)

    op.create_table('server_message_deliveries',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=63), nullable=False),
    sa.Column('principal', sa.String(length=200), nullable=False),
    sa.Column('deliver_time', sa.DateTime(), nullable=True),
    sa.Column('read_time', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('message_id', 'principal', name='uq_server_message_deliveries_message_principal')
    )
    with op.batch_alter_table('server_message_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_server_message_deliveries_principal', ['principal', 'message_id'], unique=False)

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('scopes')
    with op.batch_alter_table('server_message_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_server_message_deliveries_principal')
    op.drop_table('server_message_deliveries')
    with op.batch_alter_table('server_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_server_messages_expire_time'))
        batch_op.drop_index('ix_server_messages_recipient_kind_expire_time')
        batch_op.drop_index('ix_server_messages_sender_create_time')
    op.drop_table('server_messages')
