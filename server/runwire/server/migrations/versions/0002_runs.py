"""runs and run events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_events',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=63), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('run_id', 'seq', name='uq_run_events_run_seq')
    )
    op.create_table('runs',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('session_id', sa.String(length=63), nullable=False),
    sa.Column('agent_id', sa.String(length=63), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('output', sa.JSON(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('pending_input', sa.JSON(), nullable=False),
    sa.Column('error_reason', sa.String(length=100), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=False),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('tool_call_count', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.DateTime(), nullable=True),
    sa.Column('end_time', sa.DateTime(), nullable=True),
    sa.Column('time_to_first_token_ms', sa.Double(), nullable=True),
    sa.Column('duration_ms', sa.Double(), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('update_time', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_owner'), ['owner'], unique=False)
        batch_op.create_index('ix_runs_owner_create_time', ['owner', 'create_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_status'))
        batch_op.drop_index(batch_op.f('ix_runs_session_id'))
        batch_op.drop_index('ix_runs_owner_create_time')
        batch_op.drop_index(batch_op.f('ix_runs_owner'))
        batch_op.drop_index(batch_op.f('ix_runs_agent_id'))

    op.drop_table('runs')
    op.drop_table('run_events')
