"""setu channel: ad-hoc payment accounts, settlement events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import biller_server.persistence.types
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('settlement_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('kaleidofin', 'digiledge', 'setu', 'offline', name='channel', native_enum=False, length=24), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('event_type', sa.String(length=50), nullable=False),
    sa.Column('occurred_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=50), nullable=True),
    sa.Column('settlement_ref', sa.String(length=100), nullable=True),
    sa.Column('amount_settled_paise', sa.BigInteger(), nullable=True),
    sa.Column('matched_paise', sa.BigInteger(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('body', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('needs_reconciliation', sa.Boolean(), nullable=False),
    sa.Column('conflicting_repeats', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_events')),
    sa.UniqueConstraint('channel', 'event_id', name=op.f('uq_settlement_events_channel_event_id'))
    )
    op.create_index(op.f('ix_settlement_events_needs_reconciliation'), 'settlement_events', ['needs_reconciliation'], unique=False)
    op.create_table('adhoc_payment_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('kaleidofin', 'digiledge', 'setu', 'offline', name='channel', native_enum=False, length=24), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('loan_account_number', sa.String(length=64), nullable=False),
    sa.Column('created_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_adhoc_payment_accounts_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adhoc_payment_accounts')),
    sa.UniqueConstraint('channel', 'customer_id', 'loan_account_number', name=op.f('uq_adhoc_payment_accounts_channel_customer_id_loan_account_number'))
    )
    op.create_table('settlement_event_bills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_event_id', sa.Integer(), nullable=False),
    sa.Column('platform_bill_id', sa.String(length=64), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_settlement_event_bills_payment_id_payments')),
    sa.ForeignKeyConstraint(['settlement_event_id'], ['settlement_events.id'], name=op.f('fk_settlement_event_bills_settlement_event_id_settlement_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_event_bills')),
    sa.UniqueConstraint('settlement_event_id', 'platform_bill_id', name=op.f('uq_settlement_event_bills_settlement_event_id_platform_bill_id'))
    )
    op.create_index(op.f('ix_settlement_event_bills_payment_id'), 'settlement_event_bills', ['payment_id'], unique=False)
    op.create_index(op.f('ix_settlement_event_bills_platform_bill_id'), 'settlement_event_bills', ['platform_bill_id'], unique=False)
    op.create_index(op.f('ix_payments_channel_partner_bill_ref'), 'payments', ['channel', 'partner_bill_ref'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_payments_channel_partner_bill_ref'), table_name='payments')
    op.drop_index(op.f('ix_settlement_event_bills_platform_bill_id'), table_name='settlement_event_bills')
    op.drop_index(op.f('ix_settlement_event_bills_payment_id'), table_name='settlement_event_bills')
    op.drop_table('settlement_event_bills')
    op.drop_table('adhoc_payment_accounts')
    op.drop_index(op.f('ix_settlement_events_needs_reconciliation'), table_name='settlement_events')
    op.drop_table('settlement_events')
