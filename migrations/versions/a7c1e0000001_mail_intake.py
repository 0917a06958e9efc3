"""email intake (issue 7): inbound mail log (idempotency, counts) and ticket attachments

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
    op.create_table('ticket_inbound_mail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('transport', sa.String(length=10), nullable=False),
    sa.Column('outcome', sa.Enum('pending', 'created', 'replied', 'auto_reply', 'bounce', 'loop', 'rejected', name='ticket_mail_outcome', native_enum=False, length=20), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('sender', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('notes', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket_ticket.id'], name=op.f('fk_ticket_inbound_mail_ticket_id_ticket_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_inbound_mail')),
    sa.UniqueConstraint('message_id', name=op.f('uq_ticket_inbound_mail_message_id'))
    )
    with op.batch_alter_table('ticket_inbound_mail', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_inbound_mail_outcome_received', ['outcome', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_inbound_mail_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('inbound_mail_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_path', sa.String(length=300), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['inbound_mail_id'], ['ticket_inbound_mail.id'], name=op.f('fk_ticket_attachment_inbound_mail_id_ticket_inbound_mail')),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket_ticket.id'], name=op.f('fk_ticket_attachment_ticket_id_ticket_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_attachment'))
    )
    with op.batch_alter_table('ticket_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_attachment_ticket_id'), ['ticket_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_attachment_ticket_id'))
    op.drop_table('ticket_attachment')
    with op.batch_alter_table('ticket_inbound_mail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_inbound_mail_ticket_id'))
        batch_op.drop_index('ix_ticket_inbound_mail_outcome_received')
    op.drop_table('ticket_inbound_mail')
