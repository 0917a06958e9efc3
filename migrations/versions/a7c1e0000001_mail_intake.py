"""email intake (issue 7): filled in by the mail-intake work

Revision ID: a7c1e0000001
Revises: 39077e7884c1
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c1e0000001'
down_revision = '39077e7884c1'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
