"""Confirmation work: every accepted payment gets a durable job to confirm its outcome with a partner.

The job row is written in the same transaction as the payment, so a payment can never exist without the work
that will confirm it. The engine that carries the work out lives in ``biller_server.jobs``; what an outcome does
to the books lives in ``biller_server.domain.payments.outcomes``; offline payments, posted to Kaleidofin before
they are confirmed, in ``biller_server.domain.payments.offline``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from biller_server.persistence.models import Job, JobKind, JobState, Payment
from biller_server.persistence.types import utcnow

FIRST_CHECK_DELAY = dt.timedelta(seconds=5)


def enqueue_payment_confirmation(*, session: Session, payment: Payment, confirm_with: str, now: dt.datetime) -> Job:
    """Schedule the first status check of ``payment`` with partner ``confirm_with``, 5 s from now."""
    job = Job(**_confirmation_job(payment.id, confirm_with, now, payload={}))
    session.add(job)
    return job


def confirmation_job_row(
    *, payment_id: int, confirm_with: str, now: dt.datetime, payload: dict[str, Any]
) -> dict[str, Any]:
    """The same job as ``enqueue_payment_confirmation``, as a whole row for a caller that writes it with a Core
    statement (``record_payment``: a unit-of-work flush costs several times the INSERT's own Python). Every column
    with a default is given, as the ORM would give it."""
    written = utcnow()
    return {
        **_confirmation_job(payment_id, confirm_with, now, payload),
        "state": JobState.PENDING,
        "attempts": 0,
        "created_at": written,
        "updated_at": written,
    }


def _confirmation_job(payment_id: int, confirm_with: str, now: dt.datetime, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": JobKind.CONFIRM_PAYMENT,
        "partner": confirm_with,
        "payment_id": payment_id,
        "payload": payload,
        "dedupe_key": f"{JobKind.CONFIRM_PAYMENT}:{payment_id}",
        "anchor_at": now,
        "due_at": now + FIRST_CHECK_DELAY,
    }


CONFIRMATION_JOB_COLUMNS = (
    "kind", "partner", "payment_id", "payload", "dedupe_key", "anchor_at", "due_at", "state", "attempts",
    "created_at", "updated_at",
)  # fmt: skip
