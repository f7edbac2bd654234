"""What the biller sends on its own initiative: a message it owes someone, and the client that delivers it.

The delivery engine (``biller_server.jobs.deliveries``) claims a queued message, hands it to the receiver's client
(``Deliverer.deliver``) and records the result; Digiledge's client and the lender's webhook are deliverers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
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


class CallJournal(list[CallRecord]):
    """The calls of one attempt, each written down by ``before_send`` when the client appends it, which every
    client does (``PartnerHttp.request``) before any byte of the request leaves.

    So a worker killed while a call is in flight leaves a row saying the call was made and nobody saw its answer:
    the partner may have it (``payments show`` says "a post may have landed"). ``before_send`` returns the row's
    id, kept here so the answer completes the same row; if it raises, the call is not made.
    """

    def __init__(self, before_send: Callable[[CallRecord], int] | None = None) -> None:
        super().__init__()
        self._before_send = before_send
        self.row_ids: dict[int, int] = {}  # id() of a record -> its OutboundCall row

    def append(self, record: CallRecord) -> None:
        if self._before_send is not None:
            self.row_ids[id(record)] = self._before_send(record)
        super().append(record)

    def row_id(self, record: CallRecord) -> int | None:
        return self.row_ids.get(id(record))
