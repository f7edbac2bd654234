"""Kaleidofin's "APIs to call" (kaleidofin-collection-api.txt): Status API, Payment API and Fetch Bills.

The Status API answers per bill (``systemBillId``), not per payment. ``check_payment`` maps the bill's
``billStatus`` word for word; ``check_this_payment`` (what the engine uses) only lets the answer settle a payment
it can be pinned on (docs/confirmations.md, "Whose answer is it?"):

- an answer *names* a payment when its ``receipt`` is the payment's receipt (ours, given to Kaleidofin in
  fetchReceipt, or the one Kaleidofin returned for our offline posting) or its ``transactionId`` is the payment's;
- a BBPS payment is failed only by an answer that names it; a bill-level failure that does not is read as pending;
- an offline posting is confirmed only by an answer that names it; a bill-level success that does not is read as
  pending. A failure is passed on as it is: the engine never reverses an offline payment, whatever Kaleidofin says.

The Payment API moves money (it tells Kaleidofin a bill was paid outside BBPS) and is never called twice for one
payment: that rule lives in the engine, and this client makes exactly one HTTP request per call (no automatic
retries anywhere in ``PartnerHttp``). Every check that can stop a call before its request leaves raises a
``PartnerRequestNotSent``, so the engine knows the one allowed post was not used up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from biller_server.clients.base import (
    CallRecord,
    Outcome,
    PartnerNotConfigured,
    PartnerRejectedRequest,
    PartnerRequestNotSent,
    PartnerUnavailable,
    PaymentContext,
    StatusResult,
)
from biller_server.clients.http import PartnerHttp, Timeouts

# Kaleidofin's dates (paymentDate) are calendar dates in India.
from biller_server.domain.india import IST
from biller_server.domain.money import rupees_json

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
# The only Fetch Bills status an offline payment may be posted against: Kaleidofin holds no payment (and no
# attempt) on the bill, so nothing already on it can be mistaken for our posting.
POSTABLE_BILL_STATUSES = frozenset({"BILL_CREATED"})
OFFLINE_CHANNEL = "offline"  # Channel.OFFLINE: the client knows no models
# Where a payment's own receipt is in PaymentContext.extra (put there by the engine). A BBPS payment: the receipt
# we gave Kaleidofin in fetchReceipt. An offline payment: the one Kaleidofin returned for our posting (never the
# receipt printed at the branch, which Kaleidofin has not seen).
BBPS_RECEIPT_KEY = "receipt_number"
POSTING_RECEIPT_KEY = "posting_receipt"


class KaleidofinNotConfigured(PartnerNotConfigured, PartnerRequestNotSent):
    """A Kaleidofin setting is missing: found before any request, so nothing was sent."""


class KaleidofinRequestRefused(PartnerRejectedRequest, PartnerRequestNotSent):
    """The request cannot be made from what we hold (no systemBillId, no customer id): nothing was sent."""


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
        """Ask the Status API for the bill the payment was made against: the bill's status, word for word."""
        return self._read_status(context, calls=calls).result

    def check_this_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Ask the Status API, and give a final outcome only when the answer may be pinned on this payment.

        BBPS payment: a failure that does not name it is pending (the bill may hold other payments, or an earlier
        failed attempt); a success stands (Kaleidofin told us of the payment itself, in fetchReceipt).
        Offline posting: a success that does not name it is pending (the bill's success may be another
        payment's); a failure stands, and the engine reads it as "the posting did not land", never as a reversal.
        """
        answer = self._read_status(context, calls=calls)
        result = answer.result
        if not result.outcome.is_final or answer.names(context):
            return result
        offline = context.channel == OFFLINE_CHANNEL
        if result.outcome is Outcome.FAILED and not offline:
            why = "a bill-level failure that names neither this payment's transactionId nor its receipt"
        elif result.outcome is Outcome.SUCCEEDED and offline:
            why = "the bill shows a payment, but the answer names neither this posting's transactionId nor its receipt"
        else:
            return result
        return dataclasses.replace(result, outcome=Outcome.PENDING, reason=f"{result.raw_status}: {why}")

    def post_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Tell Kaleidofin a bill was paid outside BBPS. Moves money: the caller makes sure it happens once."""
        # Everything that can go wrong before the request leaves is checked here, as PartnerRequestNotSent.
        if not self.payment_url:
            raise KaleidofinNotConfigured("BILLER_KALEIDOFIN_PAYMENT_URL is not set")
        if not context.partner_bill_ref:
            raise KaleidofinRequestRefused("the payment has no Kaleidofin systemBillId to post against")
        try:
            body = {
                "systemBillId": _system_bill_id_json(context.partner_bill_ref),
                "transactionId": context.partner_txn_ref,
                "amountPaid": rupees_json(context.amount_paise),
                "paymentDate": context.paid_at.astimezone(IST).date().isoformat(),
            }
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise KaleidofinRequestRefused(f"the payment cannot be posted: {type(exc).__name__}: {exc}") from exc
        # From here on the request may reach Kaleidofin: no PartnerRequestNotSent any more.
        response = self.http.request(
            operation="payment", method="POST", url=self.payment_url, json_body=body, headers=self._headers, calls=calls
        )
        answer = self._bill_status(response, "payment", calls[-1])
        named = answer.transaction_id
        if named is not None and named != context.partner_txn_ref and answer.result.outcome.is_final:
            # The answer to our own request, yet about another transaction: settle nothing on it.
            return dataclasses.replace(
                answer.result,
                outcome=Outcome.PENDING,
                reason=f"{answer.result.raw_status}: the answer names transaction {named!r}, not this posting",
            )
        return answer.result

    def find_system_bill_id(self, context: PaymentContext, *, calls: list[CallRecord]) -> str | None:
        """Find the systemBillId an offline payment of our bill may be posted against (read-only, safe to repeat).

        Only a bill Kaleidofin holds no payment on (``billStatus`` BILL_CREATED) is taken: a bill already paid (or
        with a failed attempt) would let its earlier payment pass for our posting in every later status answer.
        """
        if not self.fetch_bills_url or not self.biller_id:
            raise KaleidofinNotConfigured(
                "BILLER_KALEIDOFIN_FETCH_BILLS_URL and BILLER_KALEIDOFIN_BILLER_ID must be set"
            )
        if not context.lender_customer_id:
            raise KaleidofinRequestRefused("the payment's customer has no id to fetch bills with")
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
        bills = document.get("bills")
        for bill in bills if isinstance(bills, list) else []:
            if not isinstance(bill, dict) or str(bill.get("partnerBillId")) != context.partner_bill_id:
                continue
            system_bill_id = bill.get("systemBillId")
            if system_bill_id is not None and str(bill.get("billStatus") or "").upper() in POSTABLE_BILL_STATUSES:
                return str(system_bill_id)
        return None

    def _read_status(self, context: PaymentContext, *, calls: list[CallRecord]) -> _BillStatusAnswer:
        if not self.status_url:
            raise KaleidofinNotConfigured("BILLER_KALEIDOFIN_STATUS_URL is not set")
        if not context.partner_bill_ref:
            raise KaleidofinRequestRefused("the payment has no Kaleidofin systemBillId to ask about")
        url = f"{self.status_url.rstrip('/')}/{context.partner_bill_ref}"
        response = self.http.request(operation="status", method="GET", url=url, headers=self._headers, calls=calls)
        return self._bill_status(response, "status", calls[-1])

    def _bill_status(self, response: Any, operation: str, record: CallRecord) -> _BillStatusAnswer:
        self.http.check_http_status(response, operation, record=record)
        if response.status_code == 404:
            result = StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="Kaleidofin does not know the bill")
            return _BillStatusAnswer(result, transaction_id=None)
        document = self.http.json_of(response, operation, record=record)
        _check_success(document, operation, record)
        bill_status = document.get("billStatus")
        if not isinstance(bill_status, dict) or not bill_status.get("billStatus"):
            record.error = "no billStatus in the answer"
            raise PartnerUnavailable(f"kaleidofin {operation}: the answer has no billStatus")
        raw = str(bill_status["billStatus"])
        receipt = bill_status.get("receipt")
        # Not in Kaleidofin's examples; read if it is there, as the surest way an answer can name a payment.
        transaction_id = bill_status.get("transactionId")
        result = StatusResult(
            outcome=BILL_STATUS_OUTCOMES.get(raw.upper(), Outcome.PENDING),
            raw_status=raw,
            reason=document.get("statusMessage"),
            receipt=None if receipt is None else str(receipt),
        )
        return _BillStatusAnswer(result, transaction_id=None if transaction_id is None else str(transaction_id))


@dataclass(frozen=True)
class _BillStatusAnswer:
    """A Status or Payment API answer: the mapped result plus what it says about whose payment it is."""

    result: StatusResult
    transaction_id: str | None

    def names(self, context: PaymentContext) -> bool:
        """Whether the answer identifies this payment: its transactionId, or a receipt known to be its own."""
        if self.transaction_id is not None and self.transaction_id == context.partner_txn_ref:
            return True
        own = context.extra.get(POSTING_RECEIPT_KEY if context.channel == OFFLINE_CHANNEL else BBPS_RECEIPT_KEY)
        return self.result.receipt is not None and own not in (None, "") and self.result.receipt == str(own)


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
    # 0-9 only: int() would read Arabic-Indic "14" (U+0661 U+0664) as 14, another bill's id.
    return int(system_bill_id) if system_bill_id.isascii() and system_bill_id.isdigit() else system_bill_id
