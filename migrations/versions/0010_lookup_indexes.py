"""lookup indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

Find by any reference (issue 20): each kind of reference is an equality look-up on an index of its own column,
without the channel or kind that leads the unique constraints.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("customers", "mobile"),
    ("customer_identifiers", "value"),
    ("channel_bill_references", "partner_bill_ref"),
    ("payments", "partner_txn_ref"),
    ("payments", "customer_txn_ref"),
    ("payment_notifications", "ref_id"),
    ("payment_notifications", "msg_id"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXES):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
