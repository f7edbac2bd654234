"""Push notifications of a payment's fate (Digiledge's Payment Notification): store, apply once, say what it did.

The notification is stored whole in the same transaction as its effect, so the answer (sent after the commit)
always describes something that is in the books. The channel words that answer (``NotificationResult`` -> its
acknowledgement) and keeps it with the notification (``record_acknowledgement``): exact repeats get it again.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.outcomes import AppliedOutcome, apply_payment_outcome
from biller_server.persistence.models import Channel, Payment, PaymentNotification


class NotificationResult(enum.StrEnum):
    """What a notification did to the books."""

    CONFIRMED = "confirmed"  # its verdict was applied: the payment is confirmed
    FAILED = "failed"  # its verdict was applied: the payment failed, its amount is owed again
    ALREADY_KNOWN = "already_known"  # the payment already had this status: nothing changed
    UNKNOWN_PAYMENT = "unknown_payment"  # no payment with this refId: held for reconciliation
    CONTRADICTION = "contradiction"  # contradicts the payment's final status: recorded and flagged
    REF_MISMATCH = "ref_mismatch"  # its acknowledgement names another transaction: held for reconciliation


@dataclass(frozen=True)
class ReceivedNotification:
    notification: PaymentNotification  # as stored; for a repeat, the first delivery's row
    result: NotificationResult  # for a repeat, what the first delivery did
    repeated: bool  # an exact repeat of a notification already stored: nothing changed now


_SUCCESS_WORDS = {"success", "successful", "succeeded"}
_FAILURE_WORDS = {"failure", "failed", "fail"}


class InvalidNotification(DomainError):
    code = "invalid-notification"


@dataclass(frozen=True)
class NotificationReport:
    channel: Channel
    ref_id: str
    reported_status: str
    reason: str | None
    msg_id: str | None
    reason_codes: list[dict[str, Any]]
    body: dict[str, Any]
    ack_ref_id: str | None = None  # the refId inside NPCI's acknowledgement, when it carries one

    @property
    def names_another_transaction(self) -> bool:
        """The acknowledgement inside names a refId other than the notification's own: which one is it about?"""
        return bool(self.ack_ref_id and self.ack_ref_id.strip()) and self.ack_ref_id.strip() != self.ref_id.strip()


def verdict_of(reported_status: str) -> Outcome:
    """NPCI's verdict from the notification's ``status`` ("Successful" / "Failure", any case)."""
    word = reported_status.strip().lower()
    if word in _SUCCESS_WORDS:
        return Outcome.SUCCEEDED
    if word in _FAILURE_WORDS:
        return Outcome.FAILED
    raise InvalidNotification(f"status {reported_status!r} is neither Successful nor Failure")


def fingerprint_of(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def receive_payment_notification(
    *, session: Session, report: NotificationReport, now: dt.datetime
) -> ReceivedNotification:
    """Store the notification and apply its verdict to the payment with that refId; say what it did."""
    verdict = verdict_of(report.reported_status)
    fingerprint = fingerprint_of(report.body)
    # Lock the payment first: identical notifications arriving together queue here, and each then sees whether
    # its twin was already stored.
    payment = session.scalars(
        sa.select(Payment)
        .where(Payment.channel == report.channel, Payment.partner_txn_ref == report.ref_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    repeat = _stored(session, report.channel, fingerprint)
    if repeat is not None:
        return _repeat_of(repeat)

    notification = PaymentNotification(
        received_at=now,
        channel=report.channel,
        ref_id=report.ref_id,
        msg_id=report.msg_id,
        fingerprint=fingerprint,
        body=report.body,
        reported_status=report.reported_status[:100],
        reason=report.reason,
        reason_codes=report.reason_codes or None,
        payment_id=payment.id if payment is not None else None,
        outcome="received",
        ack_code=0,
        ack_status="",
        ack_reason="",
    )
    try:
        with session.begin_nested():
            session.add(notification)
            session.flush()
    except IntegrityError:
        # Its twin for an unknown refId (no payment row to queue on) was committed meanwhile.
        repeat = _stored(session, report.channel, fingerprint)
        if repeat is None:
            raise
        return _repeat_of(repeat)

    if report.names_another_transaction:
        # As the Payment Status path reads an answer about another refId: no verdict on this payment from it.
        outcome, result, needs_reconciliation = "ref_mismatch", NotificationResult.REF_MISMATCH, True
    elif payment is None:
        outcome, result, needs_reconciliation = "unknown_payment", NotificationResult.UNKNOWN_PAYMENT, True
    else:
        applied = apply_payment_outcome(
            session=session,
            payment=payment,
            outcome=verdict,
            source=f"{report.channel.value}_notification",
            reason=report.reason,
            reason_codes=report.reason_codes or None,
            now=now,
        )
        outcome, result, needs_reconciliation = _result_of(applied, verdict)
    notification.outcome = outcome
    notification.needs_reconciliation = needs_reconciliation
    session.flush()
    return ReceivedNotification(notification, result, repeated=False)


def record_acknowledgement(notification: PaymentNotification, *, code: int, status: str, reason: str) -> None:
    """Keep the answer the channel gave a notification, so that its exact repeats get the same one.

    Written in the caller's transaction, the one that stored the notification: both commit or neither does.
    """
    notification.ack_code, notification.ack_status, notification.ack_reason = code, status, reason


def notifications_to_reconcile(*, session: Session, channel: Channel | None = None) -> list[PaymentNotification]:
    query = sa.select(PaymentNotification).where(PaymentNotification.needs_reconciliation.is_(True))
    if channel is not None:
        query = query.where(PaymentNotification.channel == channel)
    return list(session.scalars(query.order_by(PaymentNotification.id)))


def _stored(session: Session, channel: Channel, fingerprint: str) -> PaymentNotification | None:
    return session.scalars(
        sa.select(PaymentNotification).where(
            PaymentNotification.channel == channel, PaymentNotification.fingerprint == fingerprint
        )
    ).one_or_none()


def _repeat_of(notification: PaymentNotification) -> ReceivedNotification:
    if notification.outcome == "applied":
        applied = verdict_of(notification.reported_status)
        result = NotificationResult.CONFIRMED if applied is Outcome.SUCCEEDED else NotificationResult.FAILED
    else:
        result = NotificationResult(notification.outcome)
    return ReceivedNotification(notification, result, repeated=True)


def _result_of(applied: AppliedOutcome, verdict: Outcome) -> tuple[str, NotificationResult, bool]:
    """The stored outcome, the result and whether a person must look."""
    match applied:
        case AppliedOutcome.CONFIRMED | AppliedOutcome.FAILED:
            result = NotificationResult.CONFIRMED if verdict is Outcome.SUCCEEDED else NotificationResult.FAILED
            return "applied", result, False
        case AppliedOutcome.UNCHANGED:
            return "already_known", NotificationResult.ALREADY_KNOWN, False
        case AppliedOutcome.FLAGGED:
            return "contradiction", NotificationResult.CONTRADICTION, True
    raise AssertionError(applied)
