"""Bills as the lender's staff see them: list them, cancel one that should no longer be offered to BBPS, close one
settled outside BBPS."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from biller_server.persistence.models import Bill, BillStatus, Customer, Payment


class BillError(Exception):
    """A bill operation that cannot be done (the message says why, in words an operator can act on)."""


class BillNotFound(BillError):
    pass


class BillHasPayments(BillError):
    pass


class BillNotClosable(BillError):
    pass


CLOSE_REASON_LENGTH = 200


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


def _locked_bill(session: Session, partner_bill_id: str) -> Bill:
    query = sa.select(Bill).where(Bill.partner_bill_id == partner_bill_id).with_for_update()
    # Locked and read afresh: a payment being recorded for this bill right now finishes first, and is seen.
    bill = session.scalar(query.execution_options(populate_existing=True))
    if bill is None:
        raise BillNotFound(f"no bill with partner_bill_id {partner_bill_id!r}")
    return bill


def cancel_bill(*, session: Session, partner_bill_id: str) -> Bill:
    """Cancel a bill so BBPS is no longer offered it; a bill with any payment is refused. Cancelling twice is fine."""
    bill = _locked_bill(session, partner_bill_id)
    if bill.status == BillStatus.CANCELLED:
        return bill
    if bill.status == BillStatus.CLOSED:
        raise BillNotClosable(f"bill {partner_bill_id} is closed ({bill.closed_reason}) and cannot be cancelled")
    has_payment = session.scalar(sa.select(sa.exists().where(Payment.bill_id == bill.id)))
    if has_payment or bill.paid_paise:
        # A payment's receipt points at this bill; cancelling it would leave money without a bill to show for it.
        raise BillHasPayments(f"bill {partner_bill_id} has a payment and cannot be cancelled")
    bill.status = BillStatus.CANCELLED
    session.flush()
    return bill


def close_bill(*, session: Session, partner_bill_id: str, reason: str, now: dt.datetime) -> Bill:
    """Close a bill settled outside BBPS (foreclosure, write-off): no channel offers it or takes a payment for it
    again, and the payments it already has stay as they are (unlike cancelling, which a payment forbids).

    Closing a closed bill again changes nothing (the first reason and time stand). A cancelled bill, or one paid
    in full, is refused: neither is offered any more, and closing would hide what really happened to it.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise BillNotClosable("give the reason the bill is closed (e.g. 'foreclosed 12/11', 'written off')")
    if len(reason) > CLOSE_REASON_LENGTH:
        raise BillNotClosable(f"the reason is {len(reason)} characters long; at most {CLOSE_REASON_LENGTH} fit")
    bill = _locked_bill(session, partner_bill_id)
    if bill.status == BillStatus.CLOSED:
        return bill
    if bill.status == BillStatus.CANCELLED:
        raise BillNotClosable(f"bill {partner_bill_id} is cancelled; there is nothing to close")
    if bill.status == BillStatus.PAID:
        raise BillNotClosable(f"bill {partner_bill_id} is paid in full; there is nothing to close")
    bill.status = BillStatus.CLOSED
    bill.closed_at = now
    bill.closed_reason = reason
    session.flush()
    return bill
