"""copilot: the similar solved tickets found for each draft

Revision ID: c0b1e0000006
Revises: e20a5c0de001
"""
from alembic import op
import sqlalchemy as sa


revision = 'c0b1e0000006'
down_revision = 'e20a5c0de001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('copilot_draft', schema=None) as batch_op:
        batch_op.add_column(sa.Column('similar', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('copilot_draft', schema=None) as batch_op:
        batch_op.drop_column('similar')
