"""teams, tiers and routing (issue 7): teams, agent memberships, routing rule sets,
the ticket's team/tier/tags, and the metrics columns for agent and team figures

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
    op.create_table('ticket_team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('assignment', sa.Enum('manual', 'round_robin', 'least_loaded', name='ticket_team_assignment', native_enum=False, length=20), nullable=False),
    sa.Column('last_assigned_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_team')),
    sa.UniqueConstraint('slug', name=op.f('uq_ticket_team_slug'))
    )
    op.create_table('ticket_agent',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('tier', sa.SmallInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['ticket_team.id'], name=op.f('fk_ticket_agent_team_id_ticket_team')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_ticket_agent_user_id_user_account')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_ticket_agent'))
    )
    with op.batch_alter_table('ticket_agent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_agent_team_id'), ['team_id'], unique=False)

    op.create_table('ticket_routing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=300), nullable=False),
    sa.Column('activated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_routing'))
    )
    with op.batch_alter_table('ticket_routing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_routing_digest'), ['digest'], unique=False)

    with op.batch_alter_table('ticket_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tier', sa.SmallInteger(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('tags', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_ticket_ticket_team_id_ticket_team'), 'ticket_team', ['team_id'], ['id'])
        batch_op.create_index('ix_ticket_ticket_team_next_due', ['team_id', 'next_due'], unique=False)

    with op.batch_alter_table('metrics_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('team', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('csat_agent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('csat_team', sa.String(length=40), nullable=True))

    with op.batch_alter_table('metrics_ticket_sample', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('team', sa.String(length=40), server_default='', nullable=False))
        batch_op.create_index('ix_metrics_ticket_sample_agent_seconds', ['metric', 'agent_id', 'seconds', 'day', 'category'], unique=False)
        batch_op.create_index('ix_metrics_ticket_sample_team_seconds', ['metric', 'team', 'seconds', 'day', 'category'], unique=False)


def downgrade():
    with op.batch_alter_table('metrics_ticket_sample', schema=None) as batch_op:
        batch_op.drop_index('ix_metrics_ticket_sample_team_seconds')
        batch_op.drop_index('ix_metrics_ticket_sample_agent_seconds')
        batch_op.drop_column('team')
        batch_op.drop_column('agent_id')

    with op.batch_alter_table('metrics_ticket', schema=None) as batch_op:
        batch_op.drop_column('csat_team')
        batch_op.drop_column('csat_agent_id')
        batch_op.drop_column('team')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('ticket_ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_ticket_team_next_due')
        batch_op.drop_constraint(batch_op.f('fk_ticket_ticket_team_id_ticket_team'), type_='foreignkey')
        batch_op.drop_column('tags')
        batch_op.drop_column('tier')
        batch_op.drop_column('team_id')

    with op.batch_alter_table('ticket_routing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_routing_digest'))

    op.drop_table('ticket_routing')
    with op.batch_alter_table('ticket_agent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_agent_team_id'))

    op.drop_table('ticket_agent')
    op.drop_table('ticket_team')
