"""run controls: cancel requests and answers recorded for the owner of the run

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

A CancelRun or an answer (SubmitInput, Connect) may reach any replica: it is recorded here, and the run's
owner (or, after a takeover, its next owner) applies it. One row per run and key (`cancel`, or
`answer:{input request id}`): the first of concurrent requests wins.
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_controls',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=63), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('run_id', 'key', name='uq_run_controls_run_key')
    )


def downgrade() -> None:
    op.drop_table('run_controls')
