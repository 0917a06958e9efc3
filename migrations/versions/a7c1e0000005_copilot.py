"""copilot: a ticket's tone for the queue and routing, and the copilot's drafts per latest message

Revision ID: a7c1e0000005
Revises: a7c1e0000004
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c1e0000005'
down_revision = 'b17e5173a001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sentiment', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('sentiment_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('sentiment_why', sa.String(length=300), server_default='',
                                      nullable=False))
    op.create_table(
        'copilot_draft',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('basis', sa.String(length=80), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('articles', sa.JSON(), nullable=False),
        sa.Column('draft', sa.Text(), nullable=False),
        sa.Column('moods', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('changed_share', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket_ticket.id'],
                                name=op.f('fk_copilot_draft_ticket_id_ticket_ticket')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_copilot_draft')),
        sa.UniqueConstraint('ticket_id', 'basis', name=op.f('uq_copilot_draft_ticket_id')),
    )
    with op.batch_alter_table('copilot_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_copilot_draft_outcome'), ['outcome'], unique=False)


def downgrade():
    with op.batch_alter_table('copilot_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_copilot_draft_outcome'))
    op.drop_table('copilot_draft')
    with op.batch_alter_table('ticket_ticket', schema=None) as batch_op:
        batch_op.drop_column('sentiment_why')
        batch_op.drop_column('sentiment_score')
        batch_op.drop_column('sentiment')
