"""Posts whose fate nobody saw: a call that moves money (Kaleidofin's Payment API) was sent, or may have been,
and no answer was recorded (a worker killed mid-call, a timeout). The partner may have the money posted: a person
must ask it (``payments recheck``) before posting by hand, or it is posted twice.

Found from the call rows the engine writes before sending (``OutboundCall.completed_at`` still empty, or completed
without an HTTP answer) and, for posts made before calls were written ahead, from the job's "post attempted" mark
with no call row at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.india import IST
from biller_server.persistence.models import Job, JobKind, OutboundCall

# The outbound operations that move money (the clients' ``operation`` names): never repeated blindly.
POSTING_OPERATIONS = ("payment",)


def posts_that_may_have_landed(*, session: Session, payment_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """For each payment given with such a post, when the newest one was sent (UTC)."""
    ids = list(payment_ids)
    if not ids:
        return {}
    found: dict[int, dt.datetime] = {}
    unanswered = session.execute(
        sa.select(Job.payment_id, OutboundCall.created_at)
        .join(OutboundCall, OutboundCall.job_id == Job.id)
        .where(
            Job.payment_id.in_(ids),
            Job.kind == JobKind.RECORD_OFFLINE_PAYMENT,
            OutboundCall.operation.in_(POSTING_OPERATIONS),
            sa.or_(OutboundCall.completed_at.is_(None), OutboundCall.response_status.is_(None)),
        )
    )
    for payment_id, at in unanswered:
        found[payment_id] = max(at, found.get(payment_id, at))
    posted_calls = (
        sa.select(OutboundCall.id)
        .where(OutboundCall.job_id == Job.id, OutboundCall.operation.in_(POSTING_OPERATIONS))
        .exists()
    )
    marked = session.execute(
        sa.select(Job.payment_id, Job.payload).where(
            Job.payment_id.in_(ids), Job.kind == JobKind.RECORD_OFFLINE_PAYMENT, ~posted_calls
        )
    )
    for payment_id, payload in marked:
        attempted = (payload or {}).get("post_attempted_at")
        if attempted and payment_id not in found:
            found[payment_id] = dt.datetime.fromisoformat(attempted)
    return found


def may_have_landed_text(at: dt.datetime | None) -> str | None:
    """The words shown beside such a payment, in India time."""
    if at is None:
        return None
    return f"a post may have landed at {at.astimezone(IST):%H:%M} (IST) on {at.astimezone(IST):%d %b %Y}"
