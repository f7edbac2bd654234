"""Digiledge's Payment Status API (digiledge-payment-status-api.md): ``POST {refId, billerId}``.

The answer has the Payment Notification's shape (digiledge-payment-notification.txt): ``status``
Successful/Failure, ``reason``, and ``ack.errorMessages`` with ``errorCd``/``errorDtl``. The page's own response
example is cut off, so the notification page is the reference; ``errorMessages`` is read as a list (the example)
or a single object (the table).
"""

from __future__ import annotations

from typing import Any

from biller_server.clients.base import (
    CallRecord,
    Outcome,
    PartnerNotConfigured,
    PartnerUnavailable,
    PaymentContext,
    StatusResult,
)
from biller_server.clients.http import PartnerHttp, Timeouts

STATUS_OUTCOMES = {
    "SUCCESSFUL": Outcome.SUCCEEDED,
    "SUCCESS": Outcome.SUCCEEDED,
    "FAILURE": Outcome.FAILED,
    "FAILED": Outcome.FAILED,
}


class DigiledgeClient:
    name = "digiledge"

    def __init__(
        self,
        *,
        payment_status_url: str | None,
        biller_id: str | None,
        api_key: str | None = None,
        api_key_header: str = "X-API-Key",
        timeouts: Timeouts,
    ) -> None:
        self.payment_status_url = payment_status_url
        self.biller_id = biller_id
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
        if not isinstance(document, dict) or not document.get("status"):
            record.error = "no status in the answer"
            raise PartnerUnavailable("digiledge payment_status: the answer has no status")
        return status_result_from_notification(document)


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
