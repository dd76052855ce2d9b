"""batches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batches',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('input_file', sa.String(length=140), nullable=False),
    sa.Column('max_concurrency', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('task_timeout_seconds', sa.Double(), nullable=False),
    sa.Column('timeout_seconds', sa.Double(), nullable=False),
    sa.Column('deadline', sa.DateTime(), nullable=False),
    sa.Column('write_output_file', sa.Integer(), nullable=False),
    sa.Column('output_file', sa.String(length=140), nullable=False),
    sa.Column('error_reason', sa.String(length=100), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('start_time', sa.DateTime(), nullable=True),
    sa.Column('end_time', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('update_time', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_owner'), ['owner'], unique=False)
        batch_op.create_index('ix_batches_owner_create_time', ['owner', 'create_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_batches_state'), ['state'], unique=False)

    op.create_table('batch_tasks',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.String(length=63), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('custom_id', sa.String(length=64), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.String(length=63), nullable=False),
    sa.Column('session_id', sa.String(length=63), nullable=False),
    sa.Column('own_session', sa.Integer(), nullable=False),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=63), nullable=False),
    sa.Column('output', sa.JSON(), nullable=False),
    sa.Column('error_reason', sa.String(length=100), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('interruptions', sa.Integer(), nullable=False),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.DateTime(), nullable=True),
    sa.Column('end_time', sa.DateTime(), nullable=True),
    sa.Column('duration_ms', sa.Double(), nullable=True),
    sa.Column('update_time', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('batch_id', 'index', name='uq_batch_tasks_batch_index')
    )
    with op.batch_alter_table('batch_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_batch_tasks_batch_status', ['batch_id', 'status'], unique=False)
        batch_op.create_index('ix_batch_tasks_batch_version', ['batch_id', 'version'], unique=False)

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_task', sa.String(length=140), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_runs_batch_task'), ['batch_task'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_batch_task'))
        batch_op.drop_column('batch_task')

    with op.batch_alter_table('batch_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_tasks_batch_version')
        batch_op.drop_index('ix_batch_tasks_batch_status')

    op.drop_table('batch_tasks')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_state'))
        batch_op.drop_index('ix_batches_owner_create_time')
        batch_op.drop_index(batch_op.f('ix_batches_owner'))

    op.drop_table('batches')
