"""Setu's response bodies (the ``data`` of a baseResponse) from the books: a bill as Setu's ``bill`` object, a
customer's bills as ``billerFetchBillsResponse``, a validation as ``billerValidateCustomerResponse``, a receipt as
``fetchBillReceiptResponse``. Pure: no database, no request; the decisions behind each value are in
docs/channels/setu.md ("Rendering").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from biller_server.channels.setu.schemas import AVAILABLE, INR, NO_OUTSTANDING
from biller_server.domain.billing.exactness import payable_range
from biller_server.domain.india import IST
from biller_server.persistence.models import AmountExactness, Bill, Customer, Receipt

# Each bill is one instalment, paid once; the books keep no period to call it MONTHLY by.
RECURRENCE = "ONE_TIME"
PLATFORM_FEE_NAME = "Platform fee"
# The exactness rules whose amounts Setu can only know from validationRules.amount.
_RULED_EXACTNESS = (AmountExactness.RANGE, AmountExactness.EXACT_UP, AmountExactness.EXACT_DOWN)


def setu_timestamp(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:mm:ss.mmmZ``: UTC with milliseconds, the one form Setu's pages show."""
    if moment.utcoffset() is None:
        raise ValueError("a Setu timestamp needs an aware datetime: a naive one could be in any zone")
    utc = moment.astimezone(dt.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def amount(paise: int) -> dict[str, Any]:
    return {"value": paise, "currencyCode": INR}


def bill_dates(generated: dt.date, due: dt.date, *, now: dt.datetime) -> dict[str, str]:
    """``generatedOn`` and ``dueDate`` for a bill's India calendar dates, within NPCI's rules.

    generatedOn is the start of the generated day in India, never later than ``now`` (NPCI: not in the future);
    dueDate is the last millisecond of the due day in India, so it is later than generatedOn even for a bill due
    the day it was generated (NPCI: not equal). A due date before the generated date (the upload refuses both
    cases) leaves dueDate out, as Setu's spec allows, rather than send a bill NPCI refuses.
    """
    generated_on = min(dt.datetime.combine(generated, dt.time(), tzinfo=IST), now)
    due_by = dt.datetime.combine(due, dt.time(23, 59, 59, 999_000), tzinfo=IST)
    dates = {"generatedOn": setu_timestamp(generated_on)}
    if due_by > generated_on:
        dates["dueDate"] = setu_timestamp(due_by)
    return dates


def bill_object(bill: Bill, *, account_id: str, now: dt.datetime) -> dict[str, Any]:
    """Setu's ``bill`` for what the customer can pay on ``bill`` now (its balance, not its original amount)."""
    rendered: dict[str, Any] = {
        "billerBillID": bill.partner_bill_id,
        "customerAccount": {"id": account_id},
        "amountExactness": bill.exactness.value,
        "recurrence": RECURRENCE,
        **bill_dates(bill.generated_date, bill.due_date, now=now),
        # The bill's name labels the amount: with several bills per customer, it tells them apart in the app.
        "aggregates": {"total": {"displayName": bill.name, "amount": amount(bill.balance_paise)}},
        # Required by Setu's spec since 2025-07 and absent from its guide's example: sent, and zero (none is charged).
        "platformFee": {"displayName": PLATFORM_FEE_NAME, "aggregates": {"total": amount(0)}},
    }
    if bill.exactness in _RULED_EXACTNESS:
        # The same range the payment is checked against when it arrives (domain/exactness.py).
        allowed = payable_range(bill)
        rule = {"minimum": allowed.minimum}
        if allowed.maximum is not None:
            rule["maximum"] = allowed.maximum
        rendered["validationRules"] = {"amount": rule}
    return rendered


def customer_object(name: str, additional_info: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Setu's ``customer``; ``additionalInfo`` is an object of label -> text, as Setu's spec types it."""
    customer: dict[str, Any] = {"name": name}
    if additional_info:
        customer["additionalInfo"] = dict(additional_info)
    return customer


def fetch_bills_data(
    *,
    customer: Customer,
    bills: Sequence[Bill],
    now: dt.datetime,
    additional_info: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``billerFetchBillsResponse``: AVAILABLE with every bill the customer can pay now, in the order given;
    NO_OUTSTANDING with ``bills: []`` for a customer who owes nothing."""
    return {
        "customer": customer_object(customer.name, additional_info),
        "billDetails": {
            "billFetchStatus": AVAILABLE if bills else NO_OUTSTANDING,
            "bills": [
                bill_object(bill, account_id=bill.loan_account_number or customer.lender_customer_id, now=now)
                for bill in bills
            ],
        },
    }


def validate_customer_data(
    *,
    customer_name: str,
    biller_bill_id: str,
    additional_info: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``billerValidateCustomerResponse``: the customer, and the id Setu attaches to the bill it generates and
    sends back with the payment. No ``settlement``: every payment settles to the Bridge's primary account."""
    return {"customer": customer_object(customer_name, additional_info), "billerBillID": biller_bill_id}


def receipt_data(receipt: Receipt) -> dict[str, Any]:
    """``fetchBillReceiptResponse``, the receipt alone: a ``settlement`` here is an error for "Deemed" billers."""
    return {"receipt": {"id": receipt.receipt_number, "date": setu_timestamp(receipt.issued_at)}}
