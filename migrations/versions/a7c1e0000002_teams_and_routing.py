"""teams, tiers and routing (issue 7): filled in by the routing work

Revision ID: a7c1e0000002
Revises: a7c1e0000001
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c1e0000002'
down_revision = 'a7c1e0000001'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
