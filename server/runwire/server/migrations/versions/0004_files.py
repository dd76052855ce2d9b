"""files

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('files',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('error_reason', sa.String(length=100), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=False),
    sa.Column('session_id', sa.String(length=63), nullable=True),
    sa.Column('agent_id', sa.String(length=63), nullable=True),
    sa.Column('text_chars', sa.BigInteger(), nullable=False),
    sa.Column('page_count', sa.Integer(), nullable=False),
    sa.Column('chunk_count', sa.Integer(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=False),
    sa.Column('update_time', sa.DateTime(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_files_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index('ix_files_owner_create_time', ['owner', 'create_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_files_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_files_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_files_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_files_state'), ['state'], unique=False)

    op.create_table('file_chunks',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('file_id', sa.String(length=63), nullable=False),
    sa.Column('chunk_index', sa.Integer(), nullable=False),
    sa.Column('text_offset', sa.BigInteger(), nullable=False),
    sa.Column('page_number', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('file_id', 'chunk_index', name='uq_file_chunks_file_index')
    )
    # Full-text index of the chunks (rowid = file_chunks.pk). SQLite only: other databases search with LIKE.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            "CREATE VIRTUAL TABLE file_chunks_fts USING fts5("
            "text, content='file_chunks', content_rowid='pk', tokenize='unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TABLE file_chunks_fts")
    op.drop_table('file_chunks')
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_files_state'))
        batch_op.drop_index(batch_op.f('ix_files_sha256'))
        batch_op.drop_index(batch_op.f('ix_files_session_id'))
        batch_op.drop_index('ix_files_owner_create_time')
        batch_op.drop_index(batch_op.f('ix_files_owner'))
        batch_op.drop_index(batch_op.f('ix_files_agent_id'))

    op.drop_table('files')
