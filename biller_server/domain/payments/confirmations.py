"""Confirmation work: every accepted payment gets a durable job to confirm its outcome with a partner.

The job row is written in the same transaction as the payment, so a payment can never exist without the work
that will confirm it. The engine that carries the work out lives in ``biller_server.jobs``; what an outcome does
to the books lives in ``biller_server.domain.payments.outcomes``; offline payments, posted to Kaleidofin before
they are confirmed, in ``biller_server.domain.payments.offline``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from biller_server.persistence.models import Job, JobKind, Payment

FIRST_CHECK_DELAY = dt.timedelta(seconds=5)


def enqueue_payment_confirmation(*, session: Session, payment: Payment, confirm_with: str, now: dt.datetime) -> Job:
    """Schedule the first status check of ``payment`` with partner ``confirm_with``, 5 s from now."""
    job = Job(
        kind=JobKind.CONFIRM_PAYMENT,
        partner=confirm_with,
        payment_id=payment.id,
        payload={},
        dedupe_key=f"{JobKind.CONFIRM_PAYMENT}:{payment.id}",
        anchor_at=now,
        due_at=now + FIRST_CHECK_DELAY,
    )
    session.add(job)
    return job
