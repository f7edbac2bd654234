"""What the biller sends on its own initiative: a message it owes someone, and the client that delivers it.

The delivery engine (``biller_server.jobs.deliveries``) claims a queued message, hands it to the receiver's client
(``Deliverer.deliver``) and records the result; Digiledge's client and the lender's webhook are deliverers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from biller_server.clients.base import CallRecord
from biller_server.persistence.models import JobKind


@dataclass(frozen=True)
class OutboundMessage:
    """One message to deliver, as claimed: everything the send needs, so no transaction stays open during it."""

    job_id: int
    kind: JobKind
    receiver: str  # Job.partner: whose client delivers it
    operation: str  # e.g. "BillFetchResponse", "payment.confirmed"
    body: dict[str, Any]
    attempt: int
    queued_at: dt.datetime


class Deliverer(Protocol):
    def deliver(self, message: OutboundMessage, *, calls: list[CallRecord]) -> None:
        """Send the message; return only if the receiver acknowledged it."""
        ...
