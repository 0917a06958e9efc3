"""answer review: managers' verdicts on sampled bot answers

Revision ID: e20a5c0de001
Revises: a7c1e0000005
"""
from alembic import op
import sqlalchemy as sa


revision = 'e20a5c0de001'
down_revision = 'a7c1e0000005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'answer_review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('category', sa.String(length=100), nullable=False),
        sa.Column('stratum', sa.String(length=20), nullable=False),
        sa.Column('verdict', sa.String(length=20), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('cited', sa.JSON(), nullable=False),
        sa.Column('reviewer_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_review')),
        sa.UniqueConstraint('conversation_id', name=op.f('uq_answer_review_conversation_id')),
    )
    with op.batch_alter_table('answer_review', schema=None) as batch_op:
        batch_op.create_index('ix_answer_review_day_category', ['day', 'category'], unique=False)


def downgrade():
    with op.batch_alter_table('answer_review', schema=None) as batch_op:
        batch_op.drop_index('ix_answer_review_day_category')
    op.drop_table('answer_review')
