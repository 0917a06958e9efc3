"""security: server-side sign-in sessions, verified e-mail addresses, verified anonymous requesters

Revision ID: a7c1e0000004
Revises: a7c1e0000003
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c1e0000004'
down_revision = 'a7c1e0000003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'account_session',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('remember', sa.Boolean(), nullable=False),
        sa.Column('user_agent', sa.String(length=200), nullable=False),
        sa.Column('ip', sa.String(length=45), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('account_session', schema=None) as batch_op:
        batch_op.create_index('ix_account_session_user_id', ['user_id'], unique=False)
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('ticket_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester_verified_at', sa.DateTime(), nullable=True))
    # Accounts and tickets made before verification existed keep the access they had.
    op.execute("UPDATE user_account SET email_verified_at = created_at")
    op.execute("UPDATE ticket_ticket SET requester_verified_at = created_at")


def downgrade():
    with op.batch_alter_table('ticket_ticket', schema=None) as batch_op:
        batch_op.drop_column('requester_verified_at')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
    with op.batch_alter_table('account_session', schema=None) as batch_op:
        batch_op.drop_index('ix_account_session_user_id')
    op.drop_table('account_session')
