"""kb: versions of the content folder's site file (_site.yml) saved from the editor

Revision ID: b17e5173a001
Revises: a7c1e0000004
"""
from alembic import op
import sqlalchemy as sa


revision = 'b17e5173a001'
down_revision = 'a7c1e0000004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'kb_site_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('author_name', sa.String(length=120), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('diff', sa.Text(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_site_revision')),
    )
    with op.batch_alter_table('kb_site_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_site_revision_created_at'), ['created_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('kb_site_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_site_revision_created_at'))
    op.drop_table('kb_site_revision')
