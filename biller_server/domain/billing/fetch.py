"""Bill fetch: find the one customer that the identifiers name, and what that customer can pay now."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import CustomerNotFound, InsufficientIdentifiers
from biller_server.persistence.direct import DirectStatement
from biller_server.persistence.models import Bill, BillStatus, Customer, CustomerIdentifier, IdentifierKind
from biller_server.persistence.rows import as_detached

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
    loan_account_number = keys.get(IdentifierKind.LOAN_ACCOUNT_NUMBER)
    kinds = tuple(keys)
    parameters: dict[str, object] = {f"value_{index}": keys[kind] for index, kind in enumerate(kinds)}
    if loan_account_number is not None:
        parameters["loan_account_number"] = loan_account_number
    session.flush()  # what the ORM's autoflush did: customers and bills added in this session are found
    # One round trip: the (at most two) customers every key points at, each with its payable bills, run on the
    # driver's cursor (persistence.direct): SQLAlchemy's execution cost more than the driver's own work.
    rows = _customer_bills_query(kinds, loan_account_number is not None).rows(session, parameters)
    customers: dict[int, Customer] = {}
    bills: list[Bill] = []
    split = len(_CUSTOMER_COLUMNS)
    for row in rows:
        customer_id = row[_CUSTOMER_ID]
        if customer_id not in customers:
            customers[customer_id] = as_detached(Customer, dict(zip(_CUSTOMER_COLUMNS, row[:split], strict=True)))
        if row[split + _BILL_ID] is not None:  # the outer join found a payable bill
            bills.append(as_detached(Bill, dict(zip(_BILL_COLUMNS, row[split:], strict=True))))
    if len(customers) > 1:
        raise InsufficientIdentifiers("These identifiers match more than one customer; add another identifier.")
    customer = next(iter(customers.values()), None)
    name = identifiers.get(NAME_CHECK)
    if customer is None or (name is not None and normalise_name(name) != normalise_name(customer.name)):
        raise CustomerNotFound("No customer matches these identifiers.")
    return CustomerBills(customer, bills)


_CUSTOMERS = Customer.__table__
_BILLS = Bill.__table__
_CUSTOMER_COLUMNS = tuple(column.name for column in _CUSTOMERS.columns)
_BILL_COLUMNS = tuple(column.name for column in _BILLS.columns)
_CUSTOMER_ID, _BILL_ID = _CUSTOMER_COLUMNS.index("id"), _BILL_COLUMNS.index("id")


@functools.cache
def _customer_bills_query(kinds: tuple[IdentifierKind, ...], by_loan: bool) -> DirectStatement:
    """The statement for one combination of identifier kinds, built once: values are bound parameters.

    Every column of the customer, then of the bill (NULL when the customer has none payable). The payable
    statuses are compared one by one: an IN list would be rendered anew on every call.
    """
    identifiers = CustomerIdentifier.__table__
    selects = [
        sa.select(identifiers.c.customer_id).where(
            identifiers.c.kind == kind, identifiers.c.value == sa.bindparam(f"value_{index}")
        )
        for index, kind in enumerate(kinds)
    ]
    matching = (selects[0].distinct() if len(selects) == 1 else sa.intersect(*selects)).limit(2).subquery()
    # Overdue instalments stay payable: the due date does not filter. Bills come in the order the lender issued them.
    payable = [
        _BILLS.c.customer_id == _CUSTOMERS.c.id,
        sa.or_(_BILLS.c.status == BillStatus.OPEN, _BILLS.c.status == BillStatus.PARTIALLY_PAID),
        _BILLS.c.paid_paise < _BILLS.c.amount_paise,
    ]
    if by_loan:
        payable.append(_BILLS.c.loan_account_number == sa.bindparam("loan_account_number"))
    return DirectStatement(
        sa.select(*_CUSTOMERS.columns, *_BILLS.columns)
        .join(matching, _CUSTOMERS.c.id == matching.c.customer_id)
        .outerjoin(_BILLS, sa.and_(*payable))
        .order_by(_CUSTOMERS.c.id, _BILLS.c.generated_date, _BILLS.c.id)
    )
