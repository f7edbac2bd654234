"""Bills as the lender's staff see them: list them, cancel one that should no longer be offered to BBPS."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from biller_server.persistence.models import Bill, BillStatus, Customer, Payment


class BillError(Exception):
    """A bill operation that cannot be done (the message says why, in words an operator can act on)."""


class BillNotFound(BillError):
    pass


class BillHasPayments(BillError):
    pass


def list_bills(
    *, session: Session, customer_id: str | None = None, status: BillStatus | None = None, limit: int = 50
) -> list[Bill]:
    """Bills by due date, optionally of one customer (the lender's customer id) or in one status."""
    query = sa.select(Bill).options(joinedload(Bill.customer)).order_by(Bill.due_date, Bill.partner_bill_id)
    if customer_id is not None:
        query = query.join(Bill.customer).where(Customer.lender_customer_id == customer_id)
    if status is not None:
        query = query.where(Bill.status == status)
    return list(session.scalars(query.limit(limit)))


def cancel_bill(*, session: Session, partner_bill_id: str) -> Bill:
    """Cancel a bill so BBPS is no longer offered it; a bill with any payment is refused. Cancelling twice is fine."""
    query = sa.select(Bill).where(Bill.partner_bill_id == partner_bill_id).with_for_update()
    # Locked and read afresh: a payment being recorded for this bill right now finishes first, and is seen.
    bill = session.scalar(query.execution_options(populate_existing=True))
    if bill is None:
        raise BillNotFound(f"no bill with partner_bill_id {partner_bill_id!r}")
    if bill.status == BillStatus.CANCELLED:
        return bill
    has_payment = session.scalar(sa.select(sa.exists().where(Payment.bill_id == bill.id)))
    if has_payment or bill.paid_paise:
        # A payment's receipt points at this bill; cancelling it would leave money without a bill to show for it.
        raise BillHasPayments(f"bill {partner_bill_id} has a payment and cannot be cancelled")
    bill.status = BillStatus.CANCELLED
    session.flush()
    return bill
