"""crews, and the run tree: crew runs, child runs and their plan

Revision ID: 0016
Revises: 0015
Create Date: 2027-01-10

A crew run keeps the crew as it was when it started (`crew_spec`) and its plan as last recorded
(`crew_plan`), so a process that takes it over continues it. Child runs name their parent, the top of
their tree and their depth; `parent_run_id` is indexed for ListRuns(filter: parent_run = ...).
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crews',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('members', sa.JSON(), nullable=False),
    sa.Column('process', sa.Integer(), nullable=False),
    sa.Column('manager_id', sa.String(length=63), nullable=False),
    sa.Column('tasks', sa.JSON(), nullable=False),
    sa.Column('limits', sa.JSON(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('update_time', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('incarnation', sa.String(length=32), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('crews', schema=None) as batch_op:
        batch_op.create_index('ix_crews_owner', ['owner'], unique=False)
        batch_op.create_index('ix_crews_owner_create_time', ['owner', 'create_time'], unique=False)
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('crew_id', sa.String(length=63), server_default='', nullable=False))
        batch.add_column(sa.Column('crew_spec', sa.JSON(), server_default='{}', nullable=False))
        batch.add_column(sa.Column('crew_plan', sa.JSON(), server_default='{}', nullable=False))
        batch.add_column(sa.Column('parent_run_id', sa.String(length=63), server_default='', nullable=False))
        batch.add_column(sa.Column('root_run_id', sa.String(length=63), server_default='', nullable=False))
        batch.add_column(sa.Column('depth', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('crew_task', sa.String(length=63), server_default='', nullable=False))
        batch.add_column(sa.Column('crew_member', sa.String(length=63), server_default='', nullable=False))
        batch.create_index('ix_runs_crew_id', ['crew_id'], unique=False)
        batch.create_index('ix_runs_parent_run_id', ['parent_run_id'], unique=False)
    with op.batch_alter_table('batch_tasks') as batch:
        batch.add_column(sa.Column('crew_id', sa.String(length=63), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('batch_tasks') as batch:
        batch.drop_column('crew_id')
    with op.batch_alter_table('runs') as batch:
        batch.drop_index('ix_runs_parent_run_id')
        batch.drop_index('ix_runs_crew_id')
        for column in ('crew_member', 'crew_task', 'depth', 'root_run_id', 'parent_run_id', 'crew_plan', 'crew_spec', 'crew_id'):
            batch.drop_column(column)
    with op.batch_alter_table('crews', schema=None) as batch_op:
        batch_op.drop_index('ix_crews_owner_create_time')
        batch_op.drop_index('ix_crews_owner')
    op.drop_table('crews')
