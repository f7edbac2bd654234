"""A fake Digiledge protocol server (BOU) on 127.0.0.1: it takes the biller's responses and answers status checks.

Built on ``FakePartnerServer``: every response endpoint answers with the acknowledgement shape of its page
(``{reason, code, status}``) unless a test scripts it otherwise, and the Payment Status API answers with the
Payment Notification's shape (digiledge-payment-status-api.md says the two are the same).
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import FakePartnerServer, Reply

RESPONSE_OPERATIONS = ("BillFetchResponse", "BillValidationResponse", "BillPaymentResponse", "TxnStatusResponse")
PAYMENT_STATUS_PATH = "/PaymentStatus"
ACKNOWLEDGED = {"reason": "Response received", "code": 200, "status": "SUCCESS"}


def notification_body(ref_id: str, status: str = "Successful", reason: str = "") -> dict[str, Any]:
    """A Payment Notification (or Payment Status answer) for ``ref_id``, in the page's shape with real values."""
    return {
        "refId": ref_id,
        "status": status,
        "reason": reason,
        "ack": {
            "api": "PAYMENT_RESPONSE",
            "refId": ref_id,
            "msgId": f"MSG{ref_id}"[:35],
            "rspCd": "000" if status == "Successful" else "BFR004",
            "ts": "2026-11-23T10:15:00+05:30",
            "errorMessages": [] if status == "Successful" else [{"errorCd": "BFR004", "errorDtl": reason}],
        },
    }


class FakeDigiledgeBou:
    def __init__(self) -> None:
        self.server = FakePartnerServer()
        for operation in RESPONSE_OPERATIONS:
            self.server.reply("POST", f"/{operation}", Reply(body=ACKNOWLEDGED))

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def payment_status_url(self) -> str:
        return self.server.url + PAYMENT_STATUS_PATH

    def answer(self, operation: str, *replies: Reply) -> None:
        """Script the BOU's answers to one response endpoint (each delivery takes the next; the last repeats)."""
        self.server.reply("POST", f"/{operation}", *replies)

    def payment_status(self, ref_id: str, status: str = "Successful", reason: str = "") -> None:
        self.server.reply("POST", PAYMENT_STATUS_PATH, Reply(body=notification_body(ref_id, status, reason)))

    def delivered(self, operation: str) -> list[dict[str, Any]]:
        """The bodies the biller posted to ``/{operation}``, in order."""
        return [json.loads(request.body) for request in self.server.received("POST", f"/{operation}")]

    def status_checks(self) -> list[dict[str, Any]]:
        return [json.loads(request.body) for request in self.server.received("POST", PAYMENT_STATUS_PATH)]

    def close(self) -> None:
        self.server.close()
