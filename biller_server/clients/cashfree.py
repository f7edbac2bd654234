"""Cashfree's Bill Payment Response (polling) API (cashfree-bill-payment-response.txt):
``POST /bbps/cou/v1/billers/response/bill-payment`` with ``bill_fetch_ref_id`` and ``transaction_ref_id``,
authenticated by the ``x-client-id`` / ``x-client-secret`` headers. ``data.status`` is processing, success or
failed; the reason object's codes are kept.
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

PATH = "/bbps/cou/v1/billers/response/bill-payment"
STATUS_OUTCOMES = {
    "processing": Outcome.PENDING,
    "success": Outcome.SUCCEEDED,
    "failed": Outcome.FAILED,
}
_REASON_CODE_KEYS = ("response_code", "compliance_resp_cd", "approval_ref_num")


class CashfreeClient:
    name = "cashfree"

    def __init__(
        self, *, base_url: str | None, client_id: str | None, client_secret: str | None, timeouts: Timeouts
    ) -> None:
        self.base_url = base_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.http = PartnerHttp(partner=self.name, timeouts=timeouts, secrets=lambda: [client_secret or ""])

    def close(self) -> None:
        self.http.close()

    def check_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Poll the bill payment by its bill-fetch and transaction reference ids."""
        if not (self.base_url and self.client_id and self._client_secret):
            raise PartnerNotConfigured(
                "BILLER_CASHFREE_BASE_URL, BILLER_CASHFREE_CLIENT_ID and BILLER_CASHFREE_CLIENT_SECRET must be set"
            )
        body = {
            # The BBPS refId binds the fetch and the payment; the transaction reference is the payment's own id.
            "bill_fetch_ref_id": str(context.extra.get("bill_fetch_ref_id") or context.partner_txn_ref),
            "transaction_ref_id": str(
                context.extra.get("transaction_ref_id") or context.customer_txn_ref or context.partner_txn_ref
            ),
        }
        response = self.http.request(
            operation="bill_payment_response",
            method="POST",
            url=self.base_url.rstrip("/") + PATH,
            json_body=body,
            headers={"x-client-id": self.client_id, "x-client-secret": self._client_secret},
            calls=calls,
        )
        record = calls[-1]
        self.http.check_http_status(response, "bill_payment_response", record=record)
        if response.status_code == 404:
            return StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="Cashfree does not know the payment")
        document = self.http.json_of(response, "bill_payment_response", record=record)
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict) or not data.get("status"):
            record.error = "no data.status in the answer"
            raise PartnerUnavailable("cashfree bill_payment_response: the answer has no data.status")
        raw = str(data["status"])
        reason = _reason_object(data)
        words = [reason.get("response_reason"), reason.get("compliance_reason")]
        codes = {key: reason[key] for key in _REASON_CODE_KEYS if reason.get(key) is not None}
        return StatusResult(
            outcome=STATUS_OUTCOMES.get(raw.strip().lower(), Outcome.PENDING),
            raw_status=raw,
            reason="; ".join(str(word) for word in words if word) or document.get("message"),
            reason_codes=[codes] if codes else [],
            receipt=reason.get("approval_ref_num"),
        )


def _reason_object(data: dict[str, Any]) -> dict[str, Any]:
    response = data.get("response")
    payment = response.get("bill_payment_response") if isinstance(response, dict) else None
    reason = payment.get("reason") if isinstance(payment, dict) else None
    return reason if isinstance(reason, dict) else {}
