"""Offline payments: money the lender collected outside BBPS, recorded on the books and posted to Kaleidofin.

The payment and the job that posts it (Kaleidofin's Payment API, once, then its Status API) are written in one
transaction, as for any payment and its confirmation. The engine that posts lives in ``biller_server.jobs``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.india import IST
from biller_server.domain.payments.confirmations import FIRST_CHECK_DELAY
from biller_server.domain.payments.recording import DEFAULT_MAX_DUE_MULTIPLE, PaymentRequest, record_payment
from biller_server.persistence.models import (
    Channel,
    ChannelBillReference,
    Job,
    JobKind,
    Payment,
    Receipt,
)

OFFLINE_POSTING_PARTNER = "kaleidofin"
# The channels whose Payment.partner_bill_ref is a Kaleidofin systemBillId.
KALEIDOFIN_BILL_CHANNELS = (Channel.KALEIDOFIN, Channel.OFFLINE)


def enqueue_offline_payment_posting(
    *, session: Session, payment: Payment, system_bill_id: str | None, now: dt.datetime
) -> Job:
    """Schedule the one call to Kaleidofin's Payment API for an offline payment, then its status checks.

    ``system_bill_id`` None: the job first looks it up with Fetch Bills (read-only) before it posts.
    """
    job = Job(
        kind=JobKind.RECORD_OFFLINE_PAYMENT,
        partner=OFFLINE_POSTING_PARTNER,
        payment_id=payment.id,
        payload={"system_bill_id": system_bill_id, "post_attempted_at": None},
        dedupe_key=f"{JobKind.RECORD_OFFLINE_PAYMENT}:{payment.id}",
        anchor_at=now,
        due_at=now + FIRST_CHECK_DELAY,
    )
    session.add(job)
    return job


@dataclass(frozen=True)
class RecordedOfflinePayment:
    payment: Payment
    receipt: Receipt
    job: Job | None  # None when this was a replay of a payment already recorded
    replayed: bool


def record_offline_payment(
    *,
    session: Session,
    partner_bill_id: str,
    amount_paise: int,
    transaction_id: str,
    paid_on: dt.date,
    system_bill_id: str | None,
    now: dt.datetime,
    max_due_multiple: int = DEFAULT_MAX_DUE_MULTIPLE,
) -> RecordedOfflinePayment:
    """Record a payment made outside BBPS against a bill and queue its one posting to Kaleidofin.

    The books change at once (same exactness rules as any channel); Kaleidofin learns of it from the worker.
    Recording the same transaction id again returns the first payment and queues nothing.

    The posting never goes to a systemBillId that already carries a payment of ours (a BBPS payment Kaleidofin
    told us of in fetchReceipt, another offline payment): Kaleidofin's Status API answers per bill, so that
    payment's status could pass for this posting's. A given ``system_bill_id`` that does is refused; a known one
    that does is not used (the worker then looks for an open bill with Fetch Bills).
    """
    if system_bill_id:
        # Checked before anything is written. A replay of this same transaction is not "another payment".
        same = session.scalars(
            sa.select(Payment.id).where(Payment.channel == Channel.OFFLINE, Payment.partner_txn_ref == transaction_id)
        ).first()
        if system_bill_id_carries_a_payment(session, system_bill_id, other_than=same):
            raise DomainError(
                f"Kaleidofin's systemBillId {system_bill_id} already carries another payment; an offline payment is "
                "posted only to a bill Kaleidofin holds no payment on. Nothing was recorded.",
                code="system-bill-id-in-use",
            )
    recorded = record_payment(
        session=session,
        request=PaymentRequest(
            channel=Channel.OFFLINE,
            partner_txn_ref=transaction_id,
            partner_bill_id=partner_bill_id,
            amount_paise=amount_paise,
            paid_at=dt.datetime.combine(paid_on, dt.time(), tzinfo=IST).astimezone(dt.UTC),
        ),
        confirm_with=None,
        now=now,
        max_due_multiple=max_due_multiple,
    )
    payment = recorded.payment
    if recorded.replayed:
        return RecordedOfflinePayment(payment, recorded.receipt, job=None, replayed=True)
    system_bill_id = system_bill_id or _known_system_bill_id(session, payment.bill_id)
    payment.partner_bill_ref = system_bill_id
    job = enqueue_offline_payment_posting(session=session, payment=payment, system_bill_id=system_bill_id, now=now)
    session.flush()
    return RecordedOfflinePayment(payment, recorded.receipt, job=job, replayed=False)


def system_bill_id_carries_a_payment(session: Session, system_bill_id: str, *, other_than: int | None) -> bool:
    """Whether a payment of ours (other than ``other_than``), whatever its status, is on this systemBillId."""
    query = sa.select(Payment.id).where(
        Payment.partner_bill_ref == str(system_bill_id), Payment.channel.in_(KALEIDOFIN_BILL_CHANNELS)
    )
    if other_than is not None:
        query = query.where(Payment.id != other_than)
    return session.scalars(query.limit(1)).first() is not None


def _known_system_bill_id(session: Session, bill_id: int) -> str | None:
    """Kaleidofin's systemBillId for the bill, if Kaleidofin has told us one that carries no payment of ours."""
    carried = sa.select(Payment.id).where(
        Payment.partner_bill_ref == ChannelBillReference.partner_bill_ref,
        Payment.channel.in_(KALEIDOFIN_BILL_CHANNELS),
    )
    return session.scalars(
        sa.select(ChannelBillReference.partner_bill_ref)
        .where(
            ChannelBillReference.bill_id == bill_id,
            ChannelBillReference.channel == Channel.KALEIDOFIN,
            ~carried.exists(),
        )
        .order_by(ChannelBillReference.id.desc())
        .limit(1)
    ).first()
