"""PayU's Get Payment Status API (payu-get-payment-status.txt): ``GET /v2/nbc/status/billpayment?refId=``.

It needs a Bearer token from PayU's OAuth token endpoint (client credentials, scope ``read_transactions``), kept
until shortly before it expires. A 401 drops the cached token and the call is made once more with a fresh one
(a status read is safe to repeat).
"""

from __future__ import annotations

import time
from collections.abc import Callable

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

TXN_STATUS_OUTCOMES = {
    "PAYMENT_SUCCESS": Outcome.SUCCEEDED,
    "PAYMENT_FAILURE": Outcome.FAILED,
    "PAYMENT_PENDING": Outcome.PENDING,
    "RECORD_NOT_FOUND": Outcome.NOT_FOUND,
}
STATUS_PATH = "/v2/nbc/status/billpayment"
SCOPE = "read_transactions"


class PayUClient:
    name = "payu"

    def __init__(
        self,
        *,
        base_url: str | None,
        token_url: str | None,
        client_id: str | None,
        client_secret: str | None,
        timeouts: Timeouts,
        token_refresh_margin_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = TokenCache(
            self._fetch_token, refresh_margin_seconds=token_refresh_margin_seconds, monotonic=monotonic
        )
        self.http = PartnerHttp(
            partner=self.name, timeouts=timeouts, secrets=lambda: [client_secret or "", self.tokens.current or ""]
        )

    def close(self) -> None:
        self.http.close()

    def check_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        """Ask for the payment by its BBPS refId."""
        if not (self.base_url and self.token_url and self.client_id and self._client_secret):
            raise PartnerNotConfigured(
                "BILLER_PAYU_BASE_URL, BILLER_PAYU_TOKEN_URL, BILLER_PAYU_CLIENT_ID and BILLER_PAYU_CLIENT_SECRET "
                "must be set"
            )
        ref_id = str(context.extra.get("refId") or context.partner_txn_ref)
        url = self.base_url.rstrip("/") + STATUS_PATH
        response = self.tokens.send(lambda token: self._get_status(url, ref_id, token, calls), calls)
        record = calls[-1]
        self.http.check_http_status(response, "status", record=record)
        if response.status_code == 404:
            return StatusResult(Outcome.NOT_FOUND, raw_status="HTTP 404", reason="PayU does not know the refId")
        document = self.http.json_of(response, "status", record=record)
        payload = document.get("payload") if isinstance(document, dict) else None
        if not isinstance(payload, dict) or not payload.get("txnStatus"):
            # "status": "FAILURE" (code 0) is PayU saying its own web-service call failed: ask again later.
            record.error = "no payload.txnStatus in the answer"
            status = document.get("status") if isinstance(document, dict) else None
            raise PartnerUnavailable(f"payu status: no payload.txnStatus in the answer (status {status!r})")
        raw = str(payload["txnStatus"])
        return StatusResult(
            outcome=TXN_STATUS_OUTCOMES.get(raw.upper(), Outcome.PENDING),
            raw_status=raw,
            reason=None,
        )

    def _get_status(self, url: str, ref_id: str, token: str, calls: list[CallRecord]) -> requests.Response:
        return self.http.request(
            operation="status",
            method="GET",
            url=url,
            params={"refId": ref_id},
            headers={"Authorization": f"Bearer {token}"},
            calls=calls,
        )

    def _fetch_token(self, calls: list[CallRecord]) -> tuple[str, float]:
        assert self.token_url and self.client_id and self._client_secret
        response = self.http.request(
            operation="token",
            method="POST",
            url=self.token_url,
            form={
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "grant_type": "client_credentials",
                "scope": SCOPE,
            },
            calls=calls,
        )
        record = calls[-1]
        if response.status_code == 404:
            record.error = "HTTP 404"
            raise PartnerUnavailable("payu token: HTTP 404 (is BILLER_PAYU_TOKEN_URL right?)")
        # A token endpoint refusing our credentials is a configuration problem, not a wrong request: retry later.
        if response.status_code in (400, 401, 403):
            record.error = f"HTTP {response.status_code}"
            raise PartnerUnavailable(f"payu token: HTTP {response.status_code}: credentials refused")
        self.http.check_http_status(response, "token", record=record)
        document = self.http.json_of(response, "token", record=record)
        token = document.get("access_token") if isinstance(document, dict) else None
        if not token:
            record.error = "no access_token in the answer"
            raise PartnerUnavailable("payu token: no access_token in the answer")
        try:
            lifetime = float(document.get("expires_in") or 0) or 3600.0
        except (TypeError, ValueError):
            lifetime = 3600.0
        return str(token), lifetime
