"""One payment with everything that happened to it: its bill and receipt, its events, the jobs that confirm or
deliver it, every call we made to a partner about it, every partner call and notification that named it."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from biller_server.domain.payments.inflight import may_have_landed_text, posts_that_may_have_landed
from biller_server.persistence.models import (
    Bill,
    InboundMessage,
    Job,
    OutboundCall,
    Payment,
    PaymentEvent,
    PaymentNotification,
    PaymentStatus,
    Receipt,
)


@dataclass(frozen=True)
class PaymentHistory:
    payment: Payment
    bill: Bill
    receipt: Receipt | None
    events: list[PaymentEvent]
    jobs: list[Job]
    outbound_calls: list[OutboundCall]
    inbound_messages: list[InboundMessage]
    notifications: list[PaymentNotification]
    # "a post may have landed at HH:MM (IST)": a money-moving call whose answer nobody saw (domain/payments/inflight)
    post_warning: str | None = None


def payment_history(*, session: Session, payment_id: int) -> PaymentHistory | None:
    payment = session.scalar(
        sa.select(Payment)
        .options(joinedload(Payment.bill).joinedload(Bill.customer), joinedload(Payment.receipt))
        .where(Payment.id == payment_id)
    )
    if payment is None:
        return None
    jobs = list(session.scalars(sa.select(Job).where(Job.payment_id == payment.id).order_by(Job.id)))
    calls = (
        list(
            session.scalars(
                sa.select(OutboundCall)
                .where(OutboundCall.job_id.in_([job.id for job in jobs]))
                .order_by(OutboundCall.id)
            )
        )
        if jobs
        else []
    )
    events = list(
        session.scalars(sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id).order_by(PaymentEvent.id))
    )
    # The partner's calls are logged by the reference the channel recorded (its transaction id or refId).
    references = [ref for ref in (payment.partner_txn_ref, payment.customer_txn_ref) if ref]
    messages = list(
        session.scalars(
            sa.select(InboundMessage)
            .where(InboundMessage.channel == payment.channel.value, InboundMessage.partner_ref.in_(references))
            .order_by(InboundMessage.id)
        )
    )
    notifications = list(
        session.scalars(
            sa.select(PaymentNotification)
            .where(
                sa.or_(
                    PaymentNotification.payment_id == payment.id,
                    sa.and_(
                        PaymentNotification.channel == payment.channel,
                        PaymentNotification.ref_id == payment.partner_txn_ref,
                    ),
                )
            )
            .order_by(PaymentNotification.id)
        )
    )
    return PaymentHistory(
        payment=payment,
        bill=payment.bill,
        receipt=payment.receipt,
        events=events,
        jobs=jobs,
        outbound_calls=calls,
        inbound_messages=messages,
        notifications=notifications,
        post_warning=_post_warning(session, payment),
    )


def _post_warning(session: Session, payment: Payment) -> str | None:
    if payment.status not in (PaymentStatus.RECEIVED, PaymentStatus.UNRESOLVED):
        return None
    landed = posts_that_may_have_landed(session=session, payment_ids=[payment.id])
    return may_have_landed_text(landed.get(payment.id))
