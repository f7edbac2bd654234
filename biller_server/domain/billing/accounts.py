"""A customer's account as the lender's staff read it: the customer, how BBPS may find them, each bill with what
is paid and what is left, and the payments made against each bill."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from biller_server.persistence.models import Bill, BillStatus, Customer, CustomerIdentifier, Payment


@dataclass(frozen=True)
class CustomerAccount:
    customer: Customer
    identifiers: list[CustomerIdentifier]
    bills: list[Bill]  # newest due date first, each with its payments loaded

    @property
    def balance_paise(self) -> int:
        """What the customer still owes on the bills offered to BBPS (cancelled bills owe nothing)."""
        return sum(bill.balance_paise for bill in self.bills if bill.status is not BillStatus.CANCELLED)


def customer_account(*, session: Session, lender_customer_id: str) -> CustomerAccount | None:
    customer = session.scalar(sa.select(Customer).where(Customer.lender_customer_id == lender_customer_id))
    if customer is None:
        return None
    identifiers = list(
        session.scalars(
            sa.select(CustomerIdentifier)
            .where(CustomerIdentifier.customer_id == customer.id)
            .order_by(CustomerIdentifier.kind, CustomerIdentifier.value)
        )
    )
    bills = list(
        session.scalars(
            sa.select(Bill)
            .options(selectinload(Bill.payments).joinedload(Payment.receipt))
            .where(Bill.customer_id == customer.id)
            .order_by(Bill.due_date.desc(), Bill.id.desc())
        )
    )
    return CustomerAccount(customer=customer, identifiers=identifiers, bills=bills)


def bill_with_payments(*, session: Session, partner_bill_id: str) -> Bill | None:
    """One bill, its customer and its payments (with receipts) loaded."""
    return session.scalar(
        sa.select(Bill)
        .options(joinedload(Bill.customer), selectinload(Bill.payments).joinedload(Payment.receipt))
        .where(Bill.partner_bill_id == partner_bill_id)
    )
