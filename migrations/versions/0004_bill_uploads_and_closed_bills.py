"""bill uploads and closed bills

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import biller_server.persistence.types

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bill_uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_path', sa.String(length=1000), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('operator', sa.String(length=100), nullable=False),
    sa.Column('state', sa.Enum('checking', 'refused', 'applying', 'finished', 'failed', 'interrupted', name='billuploadstate', native_enum=False, length=24), nullable=False),
    sa.Column('started_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checked_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('customers_to_write', sa.Integer(), nullable=False),
    sa.Column('customers_written', sa.Integer(), nullable=False),
    sa.Column('bills_created', sa.Integer(), nullable=False),
    sa.Column('bills_updated', sa.Integer(), nullable=False),
    sa.Column('bills_unchanged', sa.Integer(), nullable=False),
    sa.Column('conflicts', sa.Integer(), nullable=False),
    sa.Column('customers_created', sa.Integer(), nullable=False),
    sa.Column('customers_updated', sa.Integer(), nullable=False),
    sa.Column('batches', sa.Integer(), nullable=False),
    sa.Column('resumed_by_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['resumed_by_id'], ['bill_uploads.id'], name=op.f('fk_bill_uploads_resumed_by_id_bill_uploads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bill_uploads'))
    )
    with op.batch_alter_table('bill_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bill_uploads_file_sha256'), ['file_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_bill_uploads_state_finished_at'), ['state', 'finished_at'], unique=False)

    # Nullable columns without a default: adding them rewrites nothing, even on a large bills table.
    with op.batch_alter_table('bills', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_reason', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bills', schema=None) as batch_op:
        batch_op.drop_column('closed_reason')
        batch_op.drop_column('closed_at')

    with op.batch_alter_table('bill_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bill_uploads_state_finished_at'))
        batch_op.drop_index(batch_op.f('ix_bill_uploads_file_sha256'))

    op.drop_table('bill_uploads')
