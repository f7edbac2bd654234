"""The lender's webhook: payment events (biller_server/domain/payments/events.py) POSTed as signed JSON.

Each delivery carries ``X-Biller-Signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is
HMAC-SHA256(secret, ``"<t>." + body``) over the exact bytes of the body. The timestamp is the time of that
delivery attempt, so a retried event carries a fresh signature; the receiver refuses signatures older than its
replay window and drops repeats by the event's ``id`` (docs/operations.md shows the check).

What the answer means to the delivery queue: 2xx is acknowledged; a timeout, no connection, 3xx, 5xx, 408, 425,
429, 401/403 (the receiver's secret is being fixed) and 404 (the URL is) are retried on the queue's schedule; any
other 4xx stops, as the receiver says the event itself is wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

from biller_server.clients.base import CallRecord, PartnerNotConfigured, PartnerUnavailable
from biller_server.clients.http import PartnerHttp, Timeouts
from biller_server.clients.outbound import OutboundMessage

SIGNATURE_HEADER = "X-Biller-Signature"
EVENT_HEADER = "X-Biller-Event"
EVENT_ID_HEADER = "X-Biller-Event-Id"
ATTEMPT_HEADER = "X-Biller-Delivery-Attempt"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def encode_body(body: object) -> bytes:
    """The bytes PartnerHttp sends for a JSON body (``json.dumps(..., ensure_ascii=False)`` in UTF-8): signed as is."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class WebhookClient:
    name = "webhook"

    def __init__(
        self,
        *,
        url: str | None,
        secret: str | None,
        timeouts: Timeouts,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self._clock = clock
        self.http = PartnerHttp(partner=self.name, timeouts=timeouts, secrets=lambda: [secret or ""])

    def close(self) -> None:
        self.http.close()

    def deliver(self, message: OutboundMessage, *, calls: list[CallRecord]) -> None:
        """POST the event once; return only on a 2xx."""
        if not self.url or not self._secret:
            # Never sent unsigned: the event waits in the queue (retried) until both are set.
            raise PartnerNotConfigured("BILLER_WEBHOOK_URL and BILLER_WEBHOOK_SECRET must be set to send events")
        timestamp = int(self._clock())
        headers = {
            SIGNATURE_HEADER: sign(self._secret, timestamp, encode_body(message.body)),
            EVENT_HEADER: message.operation,
            EVENT_ID_HEADER: str(message.body.get("id", message.job_id)),
            ATTEMPT_HEADER: str(message.attempt),
        }
        response = self.http.request(
            operation=message.operation or "event",
            method="POST",
            url=self.url,
            json_body=message.body,
            headers=headers,
            calls=calls,
        )
        record = calls[-1]
        self.http.check_http_status(response, message.operation, record=record)
        if response.status_code == 404:
            # check_http_status leaves 404 to the client. Here it says the URL is wrong, not the event: retried,
            # so an operator who fixes BILLER_WEBHOOK_URL loses nothing.
            record.error = "HTTP 404"
            raise PartnerUnavailable(f"webhook {message.operation}: HTTP 404 (is BILLER_WEBHOOK_URL right?)")
