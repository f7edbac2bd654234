"""Push notifications of a payment's fate (Digiledge's Payment Notification): store, apply once, say what it did.

The notification is stored whole in the same transaction as its effect, so the answer (sent after the commit)
always describes something that is in the books. The channel words that answer (``NotificationResult`` -> its
``Acknowledgement``), and the answer is kept with the notification: exact repeats get it again.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.outcomes import AppliedOutcome, apply_payment_outcome
from biller_server.persistence.models import Channel, Payment, PaymentNotification
from biller_server.persistence.rows import bound_columns
from biller_server.persistence.upsert import dialect_insert


class NotificationResult(enum.StrEnum):
    """What a notification did to the books."""

    CONFIRMED = "confirmed"  # its verdict was applied: the payment is confirmed
    FAILED = "failed"  # its verdict was applied: the payment failed, its amount is owed again
    ALREADY_KNOWN = "already_known"  # the payment already had this status: nothing changed
    UNKNOWN_PAYMENT = "unknown_payment"  # no payment with this refId: held for reconciliation
    CONTRADICTION = "contradiction"  # contradicts the payment's final status: recorded and flagged
    REF_MISMATCH = "ref_mismatch"  # its acknowledgement names another transaction: held for reconciliation


@dataclass(frozen=True)
class Acknowledgement:
    """The answer a notification got, ``{reason, code, status}`` in its channel's words: kept with the notification,
    so that its exact repeats are told the same."""

    code: int
    status: str
    reason: str


@dataclass(frozen=True)
class ReceivedNotification:
    result: NotificationResult  # for a repeat, what the first delivery did
    ack: Acknowledgement  # for a repeat, the one the first delivery got, as stored
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
    *,
    session: Session,
    report: NotificationReport,
    acknowledge: Callable[[NotificationResult], Acknowledgement],
    now: dt.datetime,
) -> ReceivedNotification:
    """Store the notification and apply its verdict to the payment with that refId; say what it did.

    ``acknowledge`` words each result in the channel's terms; the answer is stored with the notification, in this
    transaction, for its exact repeats.
    """
    verdict = verdict_of(report.reported_status)
    values = {
        "received_at": now,
        "channel": report.channel,
        "ref_id": report.ref_id,
        "msg_id": report.msg_id,
        "fingerprint": fingerprint_of(report.body),
        "body": report.body,
        "reported_status": report.reported_status[:100],
        "reason": report.reason,
        "reason_codes": report.reason_codes or None,
    }
    # Lock the payment first: identical notifications arriving together queue here, and each then finds its twin's
    # row when it stores its own.
    payment = session.scalars(_LOCK_PAYMENT, {"channel": report.channel, "ref_id": report.ref_id}).one_or_none()
    values["payment_id"] = payment.id if payment is not None else None

    if report.names_another_transaction or payment is None:
        # Nothing to apply: the notification is stored whole with what it did, in one statement.
        if report.names_another_transaction:
            # As the Payment Status path reads an answer about another refId: no verdict on this payment from it.
            result = NotificationResult.REF_MISMATCH
        else:
            result = NotificationResult.UNKNOWN_PAYMENT
        ack = acknowledge(result)
        if _store(session, values, result.value, needs_reconciliation=True, ack=ack) is None:
            # Its twin (no payment row to queue on) was stored first: this is a repeat.
            return _repeat_of(session, report.channel, values["fingerprint"])
        return ReceivedNotification(result, ack, repeated=False)

    # Stored first, before the verdict is applied: the row is the claim that this notification is applied once.
    # Its outcome and answer follow in one UPDATE once the verdict is applied.
    stored_id = _store(session, values, "received", needs_reconciliation=False, ack=_NO_ACK_YET)
    if stored_id is None:
        return _repeat_of(session, report.channel, values["fingerprint"])
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
    ack = acknowledge(result)
    session.execute(
        _SET_OUTCOME,
        {
            "notification_id": stored_id,
            "new_outcome": outcome,
            "new_needs_reconciliation": needs_reconciliation,
            "new_ack_code": ack.code,
            "new_ack_status": ack.status,
            "new_ack_reason": ack.reason,
        },
    )
    return ReceivedNotification(result, ack, repeated=False)


def notifications_to_reconcile(*, session: Session, channel: Channel | None = None) -> list[PaymentNotification]:
    query = sa.select(PaymentNotification).where(PaymentNotification.needs_reconciliation.is_(True))
    if channel is not None:
        query = query.where(PaymentNotification.channel == channel)
    return list(session.scalars(query.order_by(PaymentNotification.id)))


def _store(
    session: Session, values: dict[str, Any], outcome: str, *, needs_reconciliation: bool, ack: Acknowledgement
) -> int | None:
    """Insert the notification; its id, or None when the same notification (same fingerprint) is already stored.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: a twin being stored meanwhile is waited for, then found, with
    no savepoint to survive a unique violation.
    """
    row = {
        **values,
        "outcome": outcome,
        "needs_reconciliation": needs_reconciliation,
        "ack_code": ack.code,
        "ack_status": ack.status,
        "ack_reason": ack.reason,
    }
    return session.scalars(_INSERT[session.get_bind().dialect.name], row).one_or_none()


def _repeat_of(session: Session, channel: Channel, fingerprint: str) -> ReceivedNotification:
    stored = session.execute(_STORED, {"channel": channel, "fingerprint": fingerprint}).one()
    if stored.outcome == "applied":
        applied = verdict_of(stored.reported_status)
        result = NotificationResult.CONFIRMED if applied is Outcome.SUCCEEDED else NotificationResult.FAILED
    else:
        result = NotificationResult(stored.outcome)
    return ReceivedNotification(result, Acknowledgement(stored.ack_code, stored.ack_status, stored.ack_reason), True)


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


# The statements, built once (each call only binds values): a notification is a hot path.
_NOTIFICATIONS = PaymentNotification.__table__
_NO_ACK_YET = Acknowledgement(0, "", "")
_LOCK_PAYMENT = (
    sa.select(Payment)
    .where(Payment.channel == sa.bindparam("channel"), Payment.partner_txn_ref == sa.bindparam("ref_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_STORED = sa.select(
    _NOTIFICATIONS.c.outcome,
    _NOTIFICATIONS.c.reported_status,
    _NOTIFICATIONS.c.ack_code,
    _NOTIFICATIONS.c.ack_status,
    _NOTIFICATIONS.c.ack_reason,
).where(
    _NOTIFICATIONS.c.channel == sa.bindparam("channel"), _NOTIFICATIONS.c.fingerprint == sa.bindparam("fingerprint")
)
_SET_OUTCOME = (
    sa.update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id == sa.bindparam("notification_id"))
    .values(
        bound_columns(
            _NOTIFICATIONS, ("outcome", "needs_reconciliation", "ack_code", "ack_status", "ack_reason"), prefix="new_"
        )
    )
)


def _insert_statement(insert: Any) -> Any:
    names = ("received_at", "channel", "ref_id", "msg_id", "fingerprint", "body", "reported_status", "reason",
             "reason_codes", "payment_id", "outcome", "needs_reconciliation", "ack_code", "ack_status",
             "ack_reason")  # fmt: skip
    return (
        insert(_NOTIFICATIONS)
        .values(bound_columns(_NOTIFICATIONS, names))
        .on_conflict_do_nothing(index_elements=["channel", "fingerprint"])
        .returning(_NOTIFICATIONS.c.id)
    )


_INSERT = {dialect: _insert_statement(dialect_insert(dialect)) for dialect in ("postgresql", "sqlite")}
