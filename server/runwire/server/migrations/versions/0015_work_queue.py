"""work queue: the provider each run uses, so replicas share the per-provider limit

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

A run waits QUEUED without an owner (`lease_owner` empty) when the process that created it had no room;
any process with room claims it. Admission counts the runs that hold a slot per session, provider and
agent across all processes; `provider` makes the per-provider count one indexed query, and the
server's concurrent batch tasks are counted by status.
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('provider', sa.String(length=100), server_default='', nullable=False))
    op.create_index('ix_runs_status_provider', 'runs', ['status', 'provider'], unique=False)
    op.create_index('ix_runs_session_status', 'runs', ['session_id', 'status'], unique=False)
    op.create_index('ix_batch_tasks_status', 'batch_tasks', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_batch_tasks_status', table_name='batch_tasks')
    op.drop_index('ix_runs_session_status', table_name='runs')
    op.drop_index('ix_runs_status_provider', table_name='runs')
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('provider')
