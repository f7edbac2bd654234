"""Setu's two status checks: BillCollect's ``GET /utilities/bills/{platformBillId}`` for a payment Setu posted to
us (its job's ``setu_context`` names the ``platformBillID``), and BillPay's ``get-payment-status``
(setu-cou-polling.txt) for any other payment.

BillCollect (setu-billcollect-openapi.json, ``getBillWithID``): the bill's ``data.platformBillStatus`` is mapped by
``BILL_STATUS_OUTCOMES`` (reasons in docs/channels/setu.md); the URL is the token URL's API root (the token URL
without ``/auth/token``), so no setting of its own; ``X-Setu-Product-Instance-ID`` is required there.

BillPay: Setu's pages in our folder give the polling rules and the status words (Execution Awaited, Settled, Cancelled,
Rejected) but no request or response example, so the shapes here are our reading, written down in
docs/confirmations.md: the request body is the payment's context (kept in the job's payload as ``setu_context``,
or ``{"refId": ...}`` when none was kept); the status is read from ``data.status`` (Setu's ``baseResponse`` puts
its payload under ``data``) or a top-level string ``status``. Calls carry a Bearer token from Setu's token
endpoint (``{clientID, secret}`` -> ``data.token``, ``data.expiresIn``) and the product instance header.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests

from biller_server.clients.base import (
    CallRecord,
    Outcome,
    PartnerNotConfigured,
    PartnerUnavailable,
    PaymentContext,
    StatusResult,
)
from biller_server.clients.http import PartnerHttp, Timeouts, TokenCache

STATUS_OUTCOMES = {
    "executionawaited": Outcome.PENDING,
    "settled": Outcome.SUCCEEDED,
    "cancelled": Outcome.FAILED,
    "rejected": Outcome.FAILED,
}
# BillCollect's setuBillStatus -> outcome. Setu calls fetchReceipt once a payment is received, so the bill's status
# after it says what became of that payment (docs/channels/setu.md, "Confirmation", has the reasons).
BILL_STATUS_OUTCOMES = {
    "BILL_CREATED": Outcome.PENDING,  # Setu has not recorded the payment on the bill yet
    "PAYMENT_SUCCESSFUL": Outcome.SUCCEEDED,
    "CREDIT_RECEIVED": Outcome.SUCCEEDED,  # the money is in Setu's account, on its way to the lender
    "SETTLEMENT_SUCCESSFUL": Outcome.SUCCEEDED,
    # The customer paid; only Setu's transfer to the lender failed (a settlement matter, kept apart).
    "SETTLEMENT_FAILED": Outcome.SUCCEEDED,
    "PAYMENT_FAILED": Outcome.FAILED,
    # One attempt failed; the bill stays payable and a later attempt may succeed: not the bill's last word.
    "PAYMENT_ATTEMPT_FAILED": Outcome.PENDING,
    # An expired bill holds no payment: not proof that the customer's money did not move, so a person decides.
    "BILL_EXPIRED": Outcome.NOT_FOUND,
}
BILLS_PATH = "/utilities/bills/"
AUTH_TOKEN_ENDPOINT_PATH = "/auth/token"  # noqa: S105 (a path, not a secret)
DEFAULT_TOKEN_LIFETIME_SECONDS = 1800.0  # Setu's documented default expiresIn


class SetuClient:
    name = "setu"

    def __init__(
        self,
        *,
        payment_status_url: str | None,
        token_url: str | None,
        client_id: str | None,
        client_secret: str | None,
        product_instance_id: str | None = None,
        timeouts: Timeouts,
        token_refresh_margin_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.payment_status_url = payment_status_url
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.product_instance_id = product_instance_id
        self.tokens = TokenCache(
            self._fetch_token, refresh_margin_seconds=token_refresh_margin_seconds, monotonic=monotonic
        )
        self.http = PartnerHttp(
            partner=self.name, timeouts=timeouts, secrets=lambda: [client_secret or "", self.tokens.current or ""]
        )

    def close(self) -> None:
        self.http.close()

    def check_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """A payment Setu posted to us (BillCollect) is asked about by its bill; any other by BillPay's polling."""
        setu_context = context.extra.get("setu_context")
        if isinstance(setu_context, dict) and setu_context.get("platformBillID"):
            return self.check_bill(str(setu_context["platformBillID"]), calls=calls)
        return self.check_billpay_payment(context, calls=calls)

    def check_bill(self, platform_bill_id: str, *, calls: list[CallRecord]) -> StatusResult:
        """BillCollect's getBillWithID: the bill's platformBillStatus says what became of its payment."""
        if not (self.token_url and self.client_id and self._client_secret and self.product_instance_id):
            raise PartnerNotConfigured(
                "BILLER_SETU_TOKEN_URL, BILLER_SETU_CLIENT_ID, BILLER_SETU_CLIENT_SECRET and "
                "BILLER_SETU_PRODUCT_INSTANCE_ID must be set"
            )
        if not self.token_url.rstrip("/").endswith(AUTH_TOKEN_ENDPOINT_PATH):
            raise PartnerNotConfigured(
                f"BILLER_SETU_TOKEN_URL must end with {AUTH_TOKEN_ENDPOINT_PATH} (Setu's bills API is read beside it)"
            )
        url = (
            self.token_url.rstrip("/")[: -len(AUTH_TOKEN_ENDPOINT_PATH)]
            + BILLS_PATH
            + urllib.parse.quote(platform_bill_id, safe="")
        )
        answer = self._ask(lambda token: self._get_bill(url, token, calls), "get_bill", calls)
        if answer is None:
            return StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="Setu does not know the bill")
        document, record = answer
        data = document.get("data") if isinstance(document, dict) else None
        raw = data.get("platformBillStatus") if isinstance(data, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            record.error = "no data.platformBillStatus in the answer"
            raise PartnerUnavailable("setu get_bill: the answer has no data.platformBillStatus")
        assert isinstance(data, dict)
        receipt = data.get("receipt") if isinstance(data.get("receipt"), dict) else {}
        deemed = data.get("deemedBillStatus")
        return StatusResult(
            outcome=BILL_STATUS_OUTCOMES.get(raw.strip().upper(), Outcome.PENDING),
            raw_status=raw.strip(),
            reason=f"deemedBillStatus {deemed}" if isinstance(deemed, str) and deemed != "NOT_DEEMED" else None,
            receipt=None if receipt.get("id") is None else str(receipt["id"]),
        )

    def _ask(
        self, request: Callable[[str], requests.Response], operation: str, calls: list[CallRecord]
    ) -> tuple[Any, CallRecord] | None:
        """Send with the cached token; the answer's JSON and its call record, or None when Setu answers 404."""
        response = self.tokens.send(request, calls)
        record = calls[-1]
        self.http.check_http_status(response, operation, record=record)
        if response.status_code == 404:
            return None
        return self.http.json_of(response, operation, record=record), record

    def _get_bill(self, url: str, token: str, calls: list[CallRecord]) -> requests.Response:
        assert self.product_instance_id
        return self.http.request(
            operation="get_bill",
            method="GET",
            url=url,
            headers={"Authorization": f"Bearer {token}", "X-Setu-Product-Instance-ID": self.product_instance_id},
            calls=calls,
        )

    def check_billpay_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Ask get-payment-status with the same context every time (Setu: never make-payment again)."""
        if not (self.payment_status_url and self.token_url and self.client_id and self._client_secret):
            raise PartnerNotConfigured(
                "BILLER_SETU_PAYMENT_STATUS_URL, BILLER_SETU_TOKEN_URL, BILLER_SETU_CLIENT_ID and "
                "BILLER_SETU_CLIENT_SECRET must be set"
            )
        body = context.extra.get("setu_context") or {"refId": context.partner_txn_ref}
        answer = self._ask(lambda token: self._post_status(body, token, calls), "payment_status", calls)
        if answer is None:
            return StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="Setu does not know the payment")
        document, record = answer
        raw = _status_of(document)
        if raw is None:
            record.error = "no status in the answer"
            raise PartnerUnavailable("setu payment_status: the answer has no status")
        key = re.sub(r"[^a-z]", "", raw.lower())
        return StatusResult(
            outcome=STATUS_OUTCOMES.get(key, Outcome.PENDING),
            raw_status=raw,
            reason=_reason_of(document),
            reason_codes=_codes_of(document),
        )

    def _post_status(self, body: Any, token: str, calls: list[CallRecord]) -> requests.Response:
        assert self.payment_status_url
        headers = {"Authorization": f"Bearer {token}"}
        if self.product_instance_id:
            headers["X-Setu-Product-Instance-ID"] = self.product_instance_id
        return self.http.request(
            operation="payment_status",
            method="POST",
            url=self.payment_status_url,
            json_body=body,
            headers=headers,
            calls=calls,
        )

    def _fetch_token(self, calls: list[CallRecord]) -> tuple[str, float]:
        assert self.token_url
        response = self.http.request(
            operation="token",
            method="POST",
            url=self.token_url,
            json_body={"clientID": self.client_id, "secret": self._client_secret},
            calls=calls,
        )
        record = calls[-1]
        if 400 <= response.status_code < 500:
            record.error = f"HTTP {response.status_code}"
            raise PartnerUnavailable(f"setu token: HTTP {response.status_code}: credentials refused")
        self.http.check_http_status(response, "token", record=record)
        document = self.http.json_of(response, "token", record=record)
        data = document.get("data") if isinstance(document, dict) else None
        source = data if isinstance(data, dict) else document if isinstance(document, dict) else {}
        token = source.get("token") or source.get("access_token")
        if not token:
            record.error = "no token in the answer"
            raise PartnerUnavailable("setu token: no token in the answer")
        try:
            lifetime = float(source.get("expiresIn") or source.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
        return str(token), lifetime


def _status_of(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    data = document.get("data")
    if isinstance(data, dict) and isinstance(data.get("status"), str):
        return data["status"]
    status = document.get("status")
    return status if isinstance(status, str) else None


def _reason_of(document: dict[str, Any]) -> str | None:
    data = document.get("data") if isinstance(document.get("data"), dict) else {}
    for source in (data, document):
        error = source.get("error")
        if isinstance(error, dict) and (error.get("detail") or error.get("title")):
            return str(error.get("detail") or error.get("title"))
        if isinstance(source.get("reason"), str) and source["reason"]:
            return source["reason"]
    return None


def _codes_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    data = document.get("data") if isinstance(document.get("data"), dict) else {}
    for source in (data, document):
        error = source.get("error")
        if isinstance(error, dict) and error.get("code"):
            return [{"code": error["code"]}]
    return []
