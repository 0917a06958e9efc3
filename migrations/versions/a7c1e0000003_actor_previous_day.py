"""metrics: each actor row knows the actor's previous day, so distinct counts are plain counts

Revision ID: a7c1e0000003
Revises: a7c1e0000002
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c1e0000003'
down_revision = 'a7c1e0000002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('metrics_actor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_day', sa.Date(), nullable=True))
        batch_op.create_index('ix_metrics_actor_role_category_actor_day', ['role', 'category', 'actor', 'day'], unique=False)
        batch_op.create_index('ix_metrics_actor_role_category_day_prev', ['role', 'category', 'day', 'prev_day'], unique=False)
    # Existing rows get their previous day now; the rollup keeps it current from here on.
    op.execute(
        "UPDATE metrics_actor SET prev_day = ("
        "SELECT max(earlier.day) FROM metrics_actor AS earlier"
        " WHERE earlier.role = metrics_actor.role AND earlier.category = metrics_actor.category"
        " AND earlier.actor = metrics_actor.actor AND earlier.day < metrics_actor.day)"
    )


def downgrade():
    with op.batch_alter_table('metrics_actor', schema=None) as batch_op:
        batch_op.drop_index('ix_metrics_actor_role_category_day_prev')
        batch_op.drop_index('ix_metrics_actor_role_category_actor_day')
        batch_op.drop_column('prev_day')
