"""console: staff users, sign-in failures, audit entries

The operations console's accounts, lock-out counters and audit log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import biller_server.persistence.types
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('source_address', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_target'), ['target'], unique=False)

    op.create_table('sign_in_failures',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sign_in_failures'))
    )
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.Enum('viewer', 'operator', 'admin', name='staffrole', native_enum=False, length=24), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('disabled_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_sign_in_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', biller_server.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('name', name=op.f('uq_staff_users_name'))
    )


def downgrade() -> None:
    op.drop_table('staff_users')
    op.drop_table('sign_in_failures')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_target'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_occurred_at'))

    op.drop_table('audit_entries')
