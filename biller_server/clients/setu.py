"""Setu's ``get-payment-status`` (setu-cou-polling.txt), asked with the payment's context.

Setu's pages in our folder give the polling rules and the status words (Execution Awaited, Settled, Cancelled,
Rejected) but no request or response example, so the shapes here are our reading, written down in
docs/confirmations.md: the request body is the payment's context (kept in the job's payload as ``setu_context``,
or ``{"refId": ...}`` when none was kept); the status is read from ``data.status`` (Setu's ``baseResponse`` puts
its payload under ``data``) or a top-level string ``status``. Calls carry a Bearer token from Setu's token
endpoint (``{clientID, secret}`` -> ``data.token``, ``data.expiresIn``) and the product instance header.
"""

from __future__ import annotations

import re
import time
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
        """Ask get-payment-status with the same context every time (Setu: never make-payment again)."""
        if not (self.payment_status_url and self.token_url and self.client_id and self._client_secret):
            raise PartnerNotConfigured(
                "BILLER_SETU_PAYMENT_STATUS_URL, BILLER_SETU_TOKEN_URL, BILLER_SETU_CLIENT_ID and "
                "BILLER_SETU_CLIENT_SECRET must be set"
            )
        body = context.extra.get("setu_context") or {"refId": context.partner_txn_ref}
        response = self.tokens.send(lambda token: self._post_status(body, token, calls), calls)
        record = calls[-1]
        self.http.check_http_status(response, "payment_status", record=record)
        if response.status_code == 404:
            return StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="Setu does not know the payment")
        document = self.http.json_of(response, "payment_status", record=record)
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
