"""Messages the biller owes someone (Digiledge's BillFetchResponse and its siblings, the lender's webhook events),
queued in the transaction that decided they are owed.

A queued message is a job of a delivery kind, whose ``partner`` names the receiver; the delivery engine
(``biller_server.jobs.deliveries``) sends it at least once, through that receiver's client.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from biller_server.persistence.models import Job, JobKind

DELIVERY_KINDS = (JobKind.DELIVER_RESPONSE, JobKind.DELIVER_WEBHOOK)


def enqueue_delivery(
    *,
    session: Session,
    kind: JobKind,
    receiver: str,
    operation: str,
    body: dict[str, Any],
    now: dt.datetime,
    dedupe_key: str | None = None,
    payment_id: int | None = None,
) -> Job:
    """Queue a message for delivery as soon as a worker is free; written in the caller's transaction."""
    if kind not in DELIVERY_KINDS:
        raise ValueError(f"{kind} is not a delivery")
    job = Job(
        kind=kind,
        partner=receiver,
        payment_id=payment_id,
        payload={"operation": operation, "body": body},
        dedupe_key=dedupe_key,
        anchor_at=now,
        due_at=now,
    )
    session.add(job)
    return job
