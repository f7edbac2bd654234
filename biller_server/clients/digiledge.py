"""Digiledge's protocol server (BOU), as the biller calls it.

- Payment Status API (digiledge-payment-status-api.md): ``POST {refId, billerId}``. The answer has the Payment
  Notification's shape (digiledge-payment-notification.txt): ``status`` Successful/Failure, ``reason``, and
  ``ack.errorMessages`` with ``errorCd``/``errorDtl``. The page's own response example is cut off, so the
  notification page is the reference; ``errorMessages`` is read as a list (the example) or a single object (the
  table). Only an answer that carries an ``ack`` and names our refId gives a verdict (``read_payment_status``):
  an error acknowledgement ``{reason, code, status}`` or another refId's answer never fails a payment.
- The biller's responses (``deliver``): ``POST {BILLER_DIGILEDGE_BOU_BASE_URL}/{operation}`` (BillFetchResponse,
  BillValidationResponse, BillPaymentResponse, TxnStatusResponse), answered with the ``{reason, code, status}``
  acknowledgement. docs/channels/digiledge.md says what counts as acknowledged, retried and stopped.
"""

from __future__ import annotations

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
from biller_server.clients.outbound import OutboundMessage

STATUS_OUTCOMES = {
    "SUCCESSFUL": Outcome.SUCCEEDED,
    "SUCCESS": Outcome.SUCCEEDED,
    "FAILURE": Outcome.FAILED,
    "FAILED": Outcome.FAILED,
}

# Acknowledgement codes that mean "not now" or "credentials", as over HTTP: retried, never a rejection.
_RETRYABLE_CODES = frozenset({401, 403, 408, 425, 429})
_NONE = (None, "")


class DigiledgeClient:
    name = "digiledge"

    def __init__(
        self,
        *,
        payment_status_url: str | None,
        biller_id: str | None,
        bou_base_url: str | None = None,
        api_key: str | None = None,
        api_key_header: str = "X-API-Key",
        timeouts: Timeouts,
    ) -> None:
        self.payment_status_url = payment_status_url
        self.biller_id = biller_id
        self.bou_base_url = bou_base_url.rstrip("/") if bou_base_url else None
        self._headers = {api_key_header: api_key} if api_key else {}
        self.http = PartnerHttp(partner=self.name, timeouts=timeouts, secrets=lambda: [api_key or ""])

    def close(self) -> None:
        self.http.close()

    def check_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Ask for the payment by its BBPS refId."""
        if not self.payment_status_url or not self.biller_id:
            raise PartnerNotConfigured("BILLER_DIGILEDGE_PAYMENT_STATUS_URL and BILLER_DIGILEDGE_BILLER_ID must be set")
        ref_id = str(context.extra.get("refId") or context.partner_txn_ref)
        response = self.http.request(
            operation="payment_status",
            method="POST",
            url=self.payment_status_url,
            json_body={"refId": ref_id, "billerId": self.biller_id},
            headers=self._headers,
            calls=calls,
        )
        record = calls[-1]
        self.http.check_http_status(response, "payment_status", record=record)
        if response.status_code == 404:
            return StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="Digiledge does not know the refId")
        document = self.http.json_of(response, "payment_status", record=record)
        return read_payment_status(document, ref_id, record=record)

    def deliver(self, message: OutboundMessage, *, calls: list[CallRecord]) -> None:
        """Post one of the biller's responses to the BOU; return only when the BOU acknowledged it."""
        if not self.bou_base_url:
            raise PartnerNotConfigured("BILLER_DIGILEDGE_BOU_BASE_URL must be set to deliver Digiledge responses")
        operation = message.operation
        response = self.http.request(
            operation=operation,
            method="POST",
            url=f"{self.bou_base_url}/{operation}",
            json_body=message.body,
            headers=self._headers,
            calls=calls,
        )
        record = calls[-1]
        if response.status_code == 404:
            # A wrong base URL or a path the BOU does not serve yet: configuration an operator can fix while the
            # schedule runs, never a verdict on the message.
            record.error = "HTTP 404"
            raise PartnerUnavailable(f"digiledge {operation}: HTTP 404 (check BILLER_DIGILEDGE_BOU_BASE_URL)")
        self.http.check_http_status(response, operation, record=record)
        check_acknowledgement(self.http.json_of(response, operation, record=record), operation, record=record)


def read_payment_status(document: Any, ref_id: str, *, record: CallRecord) -> StatusResult:
    """Read the Payment Status API's answer to our question about ``ref_id``; a verdict only from an answer about it.

    docs/channels/digiledge.md and docs/confirmations.md give the rules; in short:

    - no JSON object, no ``status``, or no ``ack`` object: not the documented answer, retried (``PartnerUnavailable``);
    - ``code`` and no ``ack``: the BOU's ``{reason, code, status}`` acknowledgement, which carries no verdict even
      when its ``status`` says Failure. Code 404 is not found (as HTTP 404); another 4xx but 401, 403, 408, 425, 429
      says our request is wrong (``PartnerRejectedRequest``: stopped for a person); anything else is retried;
    - the root ``refId`` and ``ack.refId`` that are present must all be ours, and at least one must be present:
      none is retried (whose answer is it?), another refId's answer is pending for this payment, with the reason
      in the call's ``error``. Only then does ``status`` decide (``status_result_from_notification``).
    """
    if not isinstance(document, dict):
        record.error = "the answer is no JSON object"
        raise PartnerUnavailable("digiledge payment_status: the answer is no JSON object")
    ack = document.get("ack")
    if not isinstance(ack, dict):
        if "code" in document:
            return _read_error_acknowledgement(document, record=record)
        record.error = "no ack in the answer"
        raise PartnerUnavailable("digiledge payment_status: the answer has no ack (not a Payment Status answer)")
    if not document.get("status"):
        record.error = "no status in the answer"
        raise PartnerUnavailable("digiledge payment_status: the answer has no status")
    named = [str(value) for value in (document.get("refId"), ack.get("refId"), ack.get("refid")) if value not in _NONE]
    if not named:
        record.error = "no refId in the answer"
        raise PartnerUnavailable("digiledge payment_status: the answer names no refId")
    others = sorted({value for value in named if value != ref_id})
    if others:
        said = f"status {str(document.get('status'))[:40]!r}"
        record.error = f"the answer is about refId {others[0][:40]!r}, not {ref_id!r} ({said}): read as pending"
        return StatusResult(
            Outcome.PENDING,
            raw_status="answer about another refId",
            reason=f"answer about refId {others[0][:40]!r} ({said}), not this payment's"[:200],
        )
    return status_result_from_notification(document)


def _read_error_acknowledgement(document: dict[str, Any], *, record: CallRecord) -> StatusResult:
    """A ``{reason, code, status}`` acknowledgement in answer to a status question: never succeeded or failed."""
    number = _acknowledgement_code(document)
    said = f"code {document.get('code')!s} {document.get('status')!s}: {document.get('reason')!s}"[:300]
    if number == 404:
        record.error = f"not found: {said}"
        return StatusResult(Outcome.NOT_FOUND, raw_status="code 404", reason=said[:200])
    if number is not None and 400 <= number < 500 and number not in _RETRYABLE_CODES:
        record.error = f"rejected: {said}"
        raise PartnerRejectedRequest(f"digiledge payment_status: {said}")
    record.error = f"an acknowledgement, no verdict: {said}"
    raise PartnerUnavailable(f"digiledge payment_status: an acknowledgement instead of a status answer: {said}")


def status_result_from_notification(document: dict[str, Any]) -> StatusResult:
    """Read a Payment Notification (or a Payment Status answer, the same shape) as a canonical result.

    Anything but Successful/Failure (the only values documented) is read as still pending, so an unexpected word
    never reverses a payment; the schedule keeps asking and a person looks after a day.
    """
    raw = str(document.get("status"))
    reason = document.get("reason")
    return StatusResult(
        outcome=STATUS_OUTCOMES.get(raw.strip().upper(), Outcome.PENDING),
        raw_status=raw,
        reason=None if reason in (None, "") else str(reason),
        reason_codes=_reason_codes(document.get("ack")),
    )


def check_acknowledgement(document: Any, operation: str, *, record: CallRecord) -> None:
    """Read the BOU's ``{reason, code, status}``: a 2xx code is acknowledged, a 4xx code stops, the rest is retried.

    The code may be a number or a digit string (the pages type it both ways). A 4xx code that means "not now" or
    "credentials" (401, 403, 408, 425, 429) is retried, as over HTTP. Anything unreadable is retried: the message
    is delivered at least once, and the BOU's own answer is the only proof that it arrived.
    """
    number = _acknowledgement_code(document)
    if number is None:
        record.error = "no acknowledgement code in the answer"
        raise PartnerUnavailable(f"digiledge {operation}: the answer is no {{reason, code, status}} acknowledgement")
    said = f"code {number} {document.get('status')!s}: {document.get('reason')!s}"[:300]
    if 200 <= number < 300:
        return
    if 400 <= number < 500 and number not in _RETRYABLE_CODES:
        record.error = f"rejected: {said}"
        raise PartnerRejectedRequest(f"digiledge {operation}: {said}")
    record.error = f"not acknowledged: {said}"
    raise PartnerUnavailable(f"digiledge {operation}: {said}")


def _acknowledgement_code(document: Any) -> int | None:
    """The acknowledgement's ``code`` as a number (given as a number or a string of digits 0-9), or None."""
    code = document.get("code") if isinstance(document, dict) else None
    if isinstance(code, str):
        code = code.strip()
        if not (code.isascii() and code.isdigit()):  # int() would read full-width or Devanagari digits too
            return None
    elif isinstance(code, bool) or not isinstance(code, int):
        return None
    return int(code)


def _reason_codes(ack: Any) -> list[dict[str, Any]]:
    if not isinstance(ack, dict):
        return []
    messages = ack.get("errorMessages")
    if isinstance(messages, dict):
        messages = [messages]
    codes = [
        {key: value for key, value in message.items() if key in ("errorCd", "errorDtl")}
        for message in messages or []
        if isinstance(message, dict)
    ]
    return [code for code in codes if code]
