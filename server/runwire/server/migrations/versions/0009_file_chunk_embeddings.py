"""file chunk embeddings

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('file_chunk_embeddings',
    sa.Column('file_id', sa.String(length=63), nullable=False),
    sa.Column('chunk_index', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('file_id', 'chunk_index')
    )


def downgrade() -> None:
    op.drop_table('file_chunk_embeddings')
