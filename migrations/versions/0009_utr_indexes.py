"""utr indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

Find by UTR (the console's Find, issue 19): a payment's settlement UTR and a settlement line's UTR are looked up
alone, without the partner that leads the line's unique constraint.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f('ix_payments_settlement_ref'), 'payments', ['settlement_ref'], unique=False)
    op.create_index(op.f('ix_settlement_lines_settlement_ref'), 'settlement_lines', ['settlement_ref'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_settlement_lines_settlement_ref'), table_name='settlement_lines')
    op.drop_index(op.f('ix_payments_settlement_ref'), table_name='payments')
