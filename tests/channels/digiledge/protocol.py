"""Bodies and look-ups shared by the Digiledge biller-protocol tests (fetch, validation, payment, TxnStatus402)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import Customer, IdentifierKind, Job, JobKind
from tests.factories import TODAY, BillFactory, CustomerFactory

PREFIX = "/digiledge"
BILLER_ID = "LENDER000NAT01"
TENANT_ID = "DGLG"
REF_ID = "HENSVVR4QOS7X1UGPY7JGUV444P10102202"
OTHER_REF_ID = "AENSVVR4QOS7X1UGPY7JGUV444P10102299"
TXN_REF = "CC014110BAAA00036525"
LAN = "LAN00000001"
CUSTOMER_ID = "AY1234"
CUSTOMER_NAME = "Asha Verma"
ACCEPTED_CODES = (200, "ACCEPTED")

# Every field of the Bill Fetch Response page (digiledge-bill-fetch-response-endpoint.md), on success.
FETCH_RESPONSE_FIELDS = {
    "refId",
    "status",
    "billNumber",
    "customerName",
    "amount",
    "billPeriod",
    "billDate",
    "dueDate",
    "billerResponseTags",
    "additionalInfo",
    "tenantId",
}


def params(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in (pairs or [("Loan Account Number", LAN)])]


def fetch_body(ref_id: str = REF_ID, customer_params: list[dict[str, str]] | None = None, **extra: Any) -> dict:
    body = {
        "refId": ref_id,
        "billerId": BILLER_ID,
        "tenantId": TENANT_ID,
        "customerParams": customer_params or params(),
    }
    body.update(extra)
    return body


def payment_body(
    ref_id: str = REF_ID,
    txn_ref: str = TXN_REF,
    amount: str = "1000.00",
    customer_params: list[dict[str, str]] | None = None,
    biller_response: dict[str, Any] | None = None,
    txn_type: str = "FORWARD TYPE REQUEST",
) -> dict:
    body: dict[str, Any] = {
        "refId": ref_id,
        "txn": {"txnReferenceId": txn_ref, "ts": "2026-11-23T10:15:00+05:30", "type": txn_type},
        "billerId": BILLER_ID,
        "customerParams": customer_params or params(),
        "additionalInfo": [],
        "paymentMethod": {"quickPay": "No", "splitPay": "No", "offusPay": "Yes", "paymentMode": "Internet Banking"},
        "amount": {"amt": {"amount": amount, "custConvFee": "0", "currency": "INR"}, "splitPayAmount": "0", "tags": []},
    }
    if biller_response is not None:
        body["billerResponse"] = biller_response
    return body


def biller_response_from(fetch_response: dict[str, Any]) -> dict[str, Any]:
    """What NPCI copies into the payment from the biller's BillFetchResponse."""
    return {
        "customerName": fetch_response["customerName"],
        "amount": fetch_response["amount"],
        "dueDate": fetch_response["dueDate"],
        "custConvFee": "0",
        "billDate": fetch_response["billDate"],
        "billNumber": fetch_response["billNumber"],
        "billPeriod": fetch_response["billPeriod"],
        "tags": fetch_response["billerResponseTags"],
    }


def status_body(ref_id: str = REF_ID, txn_ref: str = TXN_REF, msg_id: str = "MSG0001") -> dict:
    return {
        "refId": ref_id,
        "txn": {"ts": "2026-11-23T11:00:00+05:30", "xchange": "402"},
        "txnStatusReq": {"msgId": msg_id, "txnReferenceId": txn_ref},
    }


def borrower(**values: Any) -> Customer:
    """A customer found by customer id, mobile and loan account number."""
    values.setdefault("lender_customer_id", CUSTOMER_ID)
    values.setdefault("name", CUSTOMER_NAME)
    values.setdefault("identifiers", [(IdentifierKind.LOAN_ACCOUNT_NUMBER, LAN)])
    return CustomerFactory(**values)


def instalment(customer: Customer, *, due_in_days: int = 14, **values: Any):
    values.setdefault("loan_account_number", LAN)
    return BillFactory(customer=customer, due_date=TODAY + dt.timedelta(days=due_in_days), **values)


def deliveries(session: Session, operation: str | None = None) -> list[Job]:
    query = sa.select(Job).where(Job.kind == JobKind.DELIVER_RESPONSE).order_by(Job.id)
    jobs = session.scalars(query.execution_options(populate_existing=True)).all()
    return [job for job in jobs if operation is None or job.payload["operation"] == operation]


def delivered_body(session: Session, operation: str) -> dict[str, Any]:
    [job] = deliveries(session, operation)
    assert job.partner == "digiledge"
    assert job.payload["operation"] == operation
    return job.payload["body"]


def assert_ack(response, code: int = 200, status: str = "ACCEPTED", http_status: int | None = None) -> None:
    assert response.status_code == (http_status if http_status is not None else (code if code >= 400 else 200))
    body = response.json
    assert set(body) == {"reason", "code", "status"}
    assert (body["code"], body["status"]) == (code, status)
    assert 1 <= len(body["reason"]) <= 100
