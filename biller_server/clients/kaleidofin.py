"""Kaleidofin's "APIs to call" (kaleidofin-collection-api.txt): Status API, Payment API and Fetch Bills.

The Status API answers per bill (``systemBillId``), not per payment: the bill's ``billStatus`` is read as the
outcome of the payment being confirmed. The Payment API moves money (it tells Kaleidofin a bill was paid outside
BBPS) and is never called twice for one payment: that rule lives in the engine, and this client makes exactly one
HTTP request per call (no automatic retries anywhere in ``PartnerHttp``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from biller_server.clients.base import (
    CallRecord,
    Outcome,
    PartnerNotConfigured,
    PartnerRejectedRequest,
    PartnerUnavailable,
    PaymentContext,
    StatusResult,
)
from biller_server.clients.http import PartnerHttp, Timeouts
from biller_server.domain.money import rupees_json

# Kaleidofin's dates (paymentDate) are calendar dates in India.
IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")

# billStatus values. Kaleidofin's page shows BILL_CREATED and PAYMENT_SUCCESSFUL and says "etc."; the others are
# the bill statuses of the Setu platform Kaleidofin's contract mirrors (setu-billcollect-summary.md section 5).
BILL_STATUS_OUTCOMES = {
    "BILL_CREATED": Outcome.PENDING,
    "PAYMENT_SUCCESSFUL": Outcome.SUCCEEDED,
    "CREDIT_RECEIVED": Outcome.SUCCEEDED,
    "SETTLEMENT_SUCCESSFUL": Outcome.SUCCEEDED,
    # The payment succeeded; only the settlement to the lender failed, which Kaleidofin retries.
    "SETTLEMENT_FAILED": Outcome.SUCCEEDED,
    "PAYMENT_FAILED": Outcome.FAILED,
    "PAYMENT_ATTEMPT_FAILED": Outcome.FAILED,
    # An expired bill holds no payment: not proof that the customer's money did not move, so a person decides.
    "BILL_EXPIRED": Outcome.NOT_FOUND,
}


class KaleidofinClient:
    name = "kaleidofin"

    def __init__(
        self,
        *,
        status_url: str | None,
        payment_url: str | None = None,
        fetch_bills_url: str | None = None,
        biller_id: str | None = None,
        api_key: str | None = None,
        api_key_header: str = "X-API-Key",
        timeouts: Timeouts,
    ) -> None:
        self.status_url = status_url
        self.payment_url = payment_url
        self.fetch_bills_url = fetch_bills_url
        self.biller_id = biller_id
        self._headers = {api_key_header: api_key} if api_key else {}
        self.http = PartnerHttp(partner=self.name, timeouts=timeouts, secrets=lambda: [api_key or ""])

    def close(self) -> None:
        self.http.close()

    def check_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Ask the Status API for the bill the payment was made against."""
        if not self.status_url:
            raise PartnerNotConfigured("BILLER_KALEIDOFIN_STATUS_URL is not set")
        if not context.partner_bill_ref:
            raise PartnerRejectedRequest("the payment has no Kaleidofin systemBillId to ask about")
        url = f"{self.status_url.rstrip('/')}/{context.partner_bill_ref}"
        response = self.http.request(operation="status", method="GET", url=url, headers=self._headers, calls=calls)
        return self._bill_status_result(response, "status", calls[-1])

    def post_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Tell Kaleidofin a bill was paid outside BBPS. Moves money: the caller makes sure it happens once."""
        if not self.payment_url:
            raise PartnerNotConfigured("BILLER_KALEIDOFIN_PAYMENT_URL is not set")
        if not context.partner_bill_ref:
            raise PartnerRejectedRequest("the payment has no Kaleidofin systemBillId to post against")
        body = {
            "systemBillId": _system_bill_id_json(context.partner_bill_ref),
            "transactionId": context.partner_txn_ref,
            "amountPaid": rupees_json(context.amount_paise),
            "paymentDate": context.paid_at.astimezone(IST).date().isoformat(),
        }
        response = self.http.request(
            operation="payment", method="POST", url=self.payment_url, json_body=body, headers=self._headers, calls=calls
        )
        return self._bill_status_result(response, "payment", calls[-1])

    def find_system_bill_id(self, context: PaymentContext, *, calls: list[CallRecord]) -> str | None:
        """Find Kaleidofin's systemBillId for our bill with Fetch Bills (read-only, safe to repeat)."""
        if not self.fetch_bills_url or not self.biller_id:
            raise PartnerNotConfigured("BILLER_KALEIDOFIN_FETCH_BILLS_URL and BILLER_KALEIDOFIN_BILLER_ID must be set")
        if not context.lender_customer_id:
            raise PartnerRejectedRequest("the payment's customer has no id to fetch bills with")
        url = f"{self.fetch_bills_url.rstrip('/')}/{self.biller_id}"
        identifiers = [{"identifierKey": "customerId", "identifierValue": context.lender_customer_id}]
        response = self.http.request(
            operation="fetch_bills", method="POST", url=url, json_body=identifiers, headers=self._headers, calls=calls
        )
        record = calls[-1]
        self.http.check_http_status(response, "fetch_bills", record=record)
        if response.status_code == 404:
            return None
        document = self.http.json_of(response, "fetch_bills", record=record)
        _check_success(document, "fetch_bills", record)
        for bill in document.get("bills") or []:
            if isinstance(bill, dict) and str(bill.get("partnerBillId")) == context.partner_bill_id:
                system_bill_id = bill.get("systemBillId")
                return None if system_bill_id is None else str(system_bill_id)
        return None

    def _bill_status_result(self, response: Any, operation: str, record: CallRecord) -> StatusResult:
        self.http.check_http_status(response, operation, record=record)
        if response.status_code == 404:
            return StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="Kaleidofin does not know the bill")
        document = self.http.json_of(response, operation, record=record)
        _check_success(document, operation, record)
        bill_status = document.get("billStatus")
        if not isinstance(bill_status, dict) or not bill_status.get("billStatus"):
            record.error = "no billStatus in the answer"
            raise PartnerUnavailable(f"kaleidofin {operation}: the answer has no billStatus")
        raw = str(bill_status["billStatus"])
        receipt = bill_status.get("receipt")
        return StatusResult(
            outcome=BILL_STATUS_OUTCOMES.get(raw.upper(), Outcome.PENDING),
            raw_status=raw,
            reason=document.get("statusMessage"),
            receipt=None if receipt is None else str(receipt),
        )


def _check_success(document: Any, operation: str, record: CallRecord) -> None:
    """``success: false`` is Kaleidofin saying no to the request itself: stop, keeping its words."""
    if not isinstance(document, dict):
        record.error = "answer is not a JSON object"
        raise PartnerUnavailable(f"kaleidofin {operation}: the answer is not a JSON object")
    if document.get("success") is False:
        record.error = "success: false"
        raise PartnerRejectedRequest(
            f"kaleidofin {operation}: statusCode {document.get('statusCode')!r}: {document.get('statusMessage')!r}"
        )


def _system_bill_id_json(system_bill_id: str) -> int | str:
    # Kaleidofin's examples send systemBillId as a JSON number; keep any non-numeric id as text.
    return int(system_bill_id) if system_bill_id.isdigit() else system_bill_id
