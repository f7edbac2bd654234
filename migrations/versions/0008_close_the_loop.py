"""close the loop

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Recorded decisions, outbound calls written before they are sent, settlement reconciliation (issue 17).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import biller_server.persistence.types

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bank_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('amount_paise', sa.BigInteger(), nullable=False),
    sa.Column('credit', sa.Boolean(), nullable=False),
    sa.Column('narration', sa.String(length=500), nullable=False),
    sa.Column('utr', sa.String(length=64), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('source_file', sa.String(length=255), nullable=False),
    sa.Column('imported_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_entries')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_bank_entries_fingerprint'))
    )
    op.create_index(op.f('ix_bank_entries_utr'), 'bank_entries', ['utr'], unique=False)
    op.create_index(op.f('ix_bank_entries_value_date'), 'bank_entries', ['value_date'], unique=False)
    op.create_table('reconciliation_acks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('break_key', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('acked_by', sa.String(length=100), nullable=False),
    sa.Column('acked_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_acks')),
    sa.UniqueConstraint('break_key', name=op.f('uq_reconciliation_acks_break_key'))
    )
    op.create_table('settlement_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner', sa.String(length=24), nullable=False),
    sa.Column('settlement_ref', sa.String(length=100), nullable=False),
    sa.Column('settled_on', sa.Date(), nullable=False),
    sa.Column('amount_paise', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('created_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_lines')),
    sa.UniqueConstraint('partner', 'settlement_ref', name=op.f('uq_settlement_lines_partner_settlement_ref'))
    )
    op.create_index(op.f('ix_settlement_lines_settled_on'), 'settlement_lines', ['settled_on'], unique=False)
    op.create_table('settlement_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('payment_ref', sa.String(length=100), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('amount_paise', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['line_id'], ['settlement_lines.id'], name=op.f('fk_settlement_items_line_id_settlement_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_settlement_items_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_items')),
    sa.UniqueConstraint('line_id', 'payment_ref', name=op.f('uq_settlement_items_line_id_payment_ref'))
    )
    op.create_index(op.f('ix_settlement_items_payment_id'), 'settlement_items', ['payment_id'], unique=False)
    op.add_column('outbound_calls', sa.Column('completed_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('payment_notifications', sa.Column('resolution', sa.String(length=24), nullable=True))
    op.add_column('payment_notifications', sa.Column('resolved_by', sa.String(length=100), nullable=True))
    op.add_column('payment_notifications', sa.Column('resolved_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('payment_notifications', sa.Column('resolution_note', sa.Text(), nullable=True))
    op.add_column('payments', sa.Column('settlement_state', sa.Enum('credit_received', 'settled', 'settlement_failed', name='settlementstate', native_enum=False, length=24), nullable=True))
    op.add_column('payments', sa.Column('settlement_ref', sa.String(length=100), nullable=True))
    op.add_column('payments', sa.Column('settled_on', sa.Date(), nullable=True))
    # Calls recorded before this revision were written after their answer: every one of them is complete.
    op.execute("UPDATE outbound_calls SET completed_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('settled_on')
        batch_op.drop_column('settlement_ref')
        batch_op.drop_column('settlement_state')
    with op.batch_alter_table('payment_notifications', schema=None) as batch_op:
        batch_op.drop_column('resolution_note')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('resolution')
    with op.batch_alter_table('outbound_calls', schema=None) as batch_op:
        batch_op.drop_column('completed_at')
    op.drop_index(op.f('ix_settlement_items_payment_id'), table_name='settlement_items')
    op.drop_table('settlement_items')
    op.drop_index(op.f('ix_settlement_lines_settled_on'), table_name='settlement_lines')
    op.drop_table('settlement_lines')
    op.drop_table('reconciliation_acks')
    op.drop_index(op.f('ix_bank_entries_value_date'), table_name='bank_entries')
    op.drop_index(op.f('ix_bank_entries_utr'), table_name='bank_entries')
    op.drop_table('bank_entries')
