"""Bill fetch: find the one customer that the identifiers name, and what that customer can pay now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import CustomerNotFound, InsufficientIdentifiers
from biller_server.persistence.models import Bill, BillStatus, Customer, CustomerIdentifier, IdentifierKind

NAME_CHECK = "name"


@dataclass(frozen=True)
class CustomerBills:
    customer: Customer
    bills: list[Bill]


def normalise_name(name: str) -> str:
    """Compare names the way a person would: case and spacing do not matter."""
    return "".join(name.split()).casefold()


def fetch_customer_bills(*, session: Session, identifiers: Mapping[str, str]) -> CustomerBills:
    """Return the customer named by ``identifiers`` (meaning -> value) and the bills it can pay now.

    Every identifying key must point at the same single customer, and a name, if given, must match; anything
    else is "customer not found", so a right id with a wrong name never reveals somebody else's bills.
    """
    keys = {IdentifierKind(meaning): value for meaning, value in identifiers.items() if meaning != NAME_CHECK}
    if not keys:
        raise InsufficientIdentifiers("At least one identifier other than the name is needed to find a customer.")
    customer_ids = _customers_matching_all(session, keys)
    if len(customer_ids) > 1:
        raise InsufficientIdentifiers("These identifiers match more than one customer; add another identifier.")
    customer = session.get(Customer, customer_ids[0]) if customer_ids else None
    name = identifiers.get(NAME_CHECK)
    if customer is None or (name is not None and normalise_name(name) != normalise_name(customer.name)):
        raise CustomerNotFound("No customer matches these identifiers.")
    return CustomerBills(customer, _payable_bills(session, customer, keys.get(IdentifierKind.LOAN_ACCOUNT_NUMBER)))


def _customers_matching_all(session: Session, keys: Mapping[IdentifierKind, str]) -> Sequence[int]:
    selects = [
        sa.select(CustomerIdentifier.customer_id).where(
            CustomerIdentifier.kind == kind, CustomerIdentifier.value == value
        )
        for kind, value in keys.items()
    ]
    query = selects[0].distinct() if len(selects) == 1 else sa.intersect(*selects)
    return session.scalars(query.limit(2)).all()


def _payable_bills(session: Session, customer: Customer, loan_account_number: str | None) -> list[Bill]:
    # Overdue instalments stay payable: the due date does not filter. Bills come in the order the lender issued them.
    query = (
        sa.select(Bill)
        .where(
            Bill.customer_id == customer.id,
            Bill.status.in_([BillStatus.OPEN, BillStatus.PARTIALLY_PAID]),
            Bill.paid_paise < Bill.amount_paise,
        )
        .order_by(Bill.generated_date, Bill.id)
    )
    if loan_account_number is not None:
        query = query.where(Bill.loan_account_number == loan_account_number)
    return list(session.scalars(query))
