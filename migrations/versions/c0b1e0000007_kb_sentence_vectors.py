"""kb: the embedding of every sentence of the published articles, stored at indexing time

Revision ID: c0b1e0000007
Revises: c0b1e0000006
"""
from alembic import op
import sqlalchemy as sa


revision = 'c0b1e0000007'
down_revision = 'c0b1e0000006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'kb_sentence_vector',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=120), nullable=False),
        sa.Column('text_hash', sa.String(length=32), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_sentence_vector')),
        sa.UniqueConstraint('slug', 'text_hash', name='uq_kb_sentence_vector_slug_text_hash'),
    )
    with op.batch_alter_table('kb_sentence_vector', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_sentence_vector_text_hash'), ['text_hash'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('kb_sentence_vector', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_sentence_vector_text_hash'))
    op.drop_table('kb_sentence_vector')
