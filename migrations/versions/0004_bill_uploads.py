"""bill uploads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import biller_server.persistence.types

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bill_uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('state', sa.Enum('finished', name='billuploadstate', native_enum=False, length=24), nullable=False),
    sa.Column('started_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('bills_created', sa.Integer(), nullable=False),
    sa.Column('bills_updated', sa.Integer(), nullable=False),
    sa.Column('bills_unchanged', sa.Integer(), nullable=False),
    sa.Column('conflicts', sa.Integer(), nullable=False),
    sa.Column('customers_created', sa.Integer(), nullable=False),
    sa.Column('customers_updated', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bill_uploads'))
    )
    with op.batch_alter_table('bill_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bill_uploads_state_finished_at'), ['state', 'finished_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bill_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bill_uploads_state_finished_at'))

    op.drop_table('bill_uploads')
