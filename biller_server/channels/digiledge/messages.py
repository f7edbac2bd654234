"""The messages the biller posts to Digiledge's protocol server, field for field as its response pages list them.

Amounts cross this edge as rupees text with two decimals ("1000.00"), or as whole paise ("100000") with
``BILLER_DIGILEDGE_AMOUNT_UNIT=paise``: ``digiledge_amount_paise`` and ``digiledge_amount_text`` are the only
conversions, both ways (docs/channels/digiledge.md says why rupees by default). A
Failure carries one of the biller's error codes (``Refusal``), published in the same document.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from biller_server.config import DigiledgeAmountUnit
from biller_server.domain.billing.exactness import payable_range
from biller_server.domain.money import (
    AmountError,
    paise_from_paise_text,
    paise_from_rupees,
    paise_from_rupees_text,
    rupees_text,
)
from biller_server.persistence.models import Bill, Customer

# Operations: the BOU paths the biller's responses go to (``{BILLER_DIGILEDGE_BOU_BASE_URL}/{operation}``).
BILL_FETCH_RESPONSE = "BillFetchResponse"
BILL_VALIDATION_RESPONSE = "BillValidationResponse"
BILL_PAYMENT_RESPONSE = "BillPaymentResponse"
TXN_STATUS_RESPONSE = "TxnStatusResponse"

SUCCESSFUL = "Successful"
FAILURE = "Failure"
# NPCI's reserved amount-option name for the bill's own amount.
BASE_BILL_AMOUNT = "BASE_BILL_AMOUNT"


class Refusal(enum.StrEnum):
    """The biller's error codes in a Failure response (six characters, as the pages require)."""

    CUSTOMER_NOT_FOUND = "BLR001"
    CUSTOMER_PARAMS_NOT_ACCEPTED = "BLR002"
    NO_BILL_DUE = "BLR003"
    BILL_NOT_FOUND = "BLR004"
    BILL_ALREADY_PAID = "BLR005"
    BILL_CANCELLED = "BLR006"
    AMOUNT_NOT_ALLOWED = "BLR007"
    DUPLICATE_TRANSACTION = "BLR008"
    REVERSAL_NOT_ACCEPTED = "BLR009"
    TRANSACTION_NOT_FOUND = "BLR010"
    PAYMENT_FAILED = "BLR011"


def digiledge_amount_paise(value: str | Decimal | int, unit: DigiledgeAmountUnit) -> int:
    """Read a Digiledge amount as paise: rupees ("1000" or "1000.50") or, with ``BILLER_DIGILEDGE_AMOUNT_UNIT=paise``,
    whole paise ("100050"). A JSON number is read the same way."""
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise AmountError('amount must be text, e.g. "1000.00"')
    if unit is DigiledgeAmountUnit.PAISE:
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise AmountError(f"{value} is not a whole number of paise")
        return paise_from_paise_text(value if isinstance(value, str) else str(int(value)))
    if isinstance(value, str):
        return paise_from_rupees_text(value)
    return paise_from_rupees(value)


def digiledge_amount_text(paise: int, unit: DigiledgeAmountUnit) -> str:
    """Write paise as a Digiledge amount: rupees with two decimals, ``100050`` -> ``"1000.50"``, or whole paise
    (``"100050"``) with ``BILLER_DIGILEDGE_AMOUNT_UNIT=paise``."""
    return str(paise) if unit is DigiledgeAmountUnit.PAISE else rupees_text(paise)


def earliest_due(bills: Sequence[Bill]) -> Bill:
    """The bill a single-bill response offers: the oldest instalment still due (lenders collect oldest first)."""
    return min(bills, key=lambda bill: (bill.due_date, bill.generated_date, bill.id))


def _with_tenant(body: dict[str, Any], tenant_id: str | None) -> dict[str, Any]:
    if tenant_id:
        body["tenantId"] = tenant_id
    return body


def _pair(name: str, value: str) -> dict[str, str]:
    return {"name": name[:100], "value": value[:100]}


def bill_info(bill: Bill, payable: Sequence[Bill], unit: DigiledgeAmountUnit) -> list[dict[str, str]]:
    """What the customer should know beside the offered bill: its account, the amounts accepted, all that is due."""
    allowed = payable_range(bill)
    info = []
    if bill.loan_account_number:
        info.append(_pair("Loan Account Number", bill.loan_account_number))
    info.append(_pair("Minimum Amount", digiledge_amount_text(allowed.minimum, unit)))
    if allowed.maximum is not None:
        info.append(_pair("Maximum Amount", digiledge_amount_text(allowed.maximum, unit)))
    info.append(_pair("Instalments Due", str(len(payable))))
    info.append(_pair("Total Due", digiledge_amount_text(sum(each.balance_paise for each in payable), unit)))
    return info


def bill_fetch_success(
    *,
    ref_id: str,
    tenant_id: str | None,
    customer: Customer,
    bill: Bill,
    payable: Sequence[Bill],
    unit: DigiledgeAmountUnit,
) -> dict[str, Any]:
    amount = digiledge_amount_text(bill.balance_paise, unit)
    body = {
        "refId": ref_id,
        "status": SUCCESSFUL,
        "billNumber": bill.partner_bill_id,
        "customerName": customer.name[:100],
        "amount": amount,
        "billPeriod": bill.name[:50],
        "billDate": bill.generated_date.isoformat(),
        "dueDate": bill.due_date.isoformat(),
        "billerResponseTags": [_pair(BASE_BILL_AMOUNT, amount)],
        "additionalInfo": bill_info(bill, payable, unit),
    }
    return _with_tenant(body, tenant_id)


def bill_validation_success(
    *,
    ref_id: str,
    tenant_id: str | None,
    customer: Customer,
    bill: Bill,
    payable: Sequence[Bill],
    unit: DigiledgeAmountUnit,
) -> dict[str, Any]:
    info = [
        _pair("Customer Name", customer.name),
        _pair("Bill Number", bill.partner_bill_id),
        _pair("Amount Due", digiledge_amount_text(bill.balance_paise, unit)),
        _pair("Due Date", bill.due_date.isoformat()),
        *bill_info(bill, payable, unit),
    ]
    return _with_tenant({"refId": ref_id, "status": SUCCESSFUL, "additionalInfo": info}, tenant_id)


def bill_payment_success(*, ref_id: str, tenant_id: str | None, receipt_number: str) -> dict[str, Any]:
    # approvalRefNum is not on Digiledge's page; NPCI's payment response carries the biller's approval reference,
    # and our receipt number is exactly that (docs/channels/digiledge.md).
    return _with_tenant({"refId": ref_id, "status": SUCCESSFUL, "approvalRefNum": receipt_number}, tenant_id)


def txn_status_success(*, ref_id: str, tenant_id: str | None) -> dict[str, Any]:
    return _with_tenant({"refId": ref_id, "status": SUCCESSFUL}, tenant_id)


def failure(*, ref_id: str, tenant_id: str | None, refusal: Refusal, description: str, **fields: Any) -> dict[str, Any]:
    """A Failure response: the error code and a description of 1 to 100 characters, plus any fields the page needs."""
    body = {
        "refId": ref_id,
        "status": FAILURE,
        "errorCode": refusal.value,
        "errorDescription": (description.strip() or refusal.name)[:100],
        **fields,
    }
    return _with_tenant(body, tenant_id)
