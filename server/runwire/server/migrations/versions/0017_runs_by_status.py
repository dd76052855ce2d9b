"""runs by owner and status, and by agent and status: the counts of active runs read only active ones

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

Every CreateRun counts the caller's queued, running and waiting runs (`max_active_runs_per_caller`).
With only the index on `owner`, that count read every run the caller ever made, so creating a run
slowed down as the caller's history grew. Admission counts an agent's runs the same way when the agent
has a concurrency limit.
"""

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_runs_owner_status', 'runs', ['owner', 'status'], unique=False)
    op.create_index('ix_runs_agent_status', 'runs', ['agent_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_runs_agent_status', table_name='runs')
    op.drop_index('ix_runs_owner_status', table_name='runs')
