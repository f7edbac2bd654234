"""A person's decisions about the work the server hands them: an UNRESOLVED or flagged payment, a held notification.

Every decision goes through the same rules as a partner's answer (``apply_payment_outcome``), is recorded as a
``PaymentEvent`` naming who decided and why (and an ``AuditEntry``), and is idempotent: the same decision again
changes nothing and says so. A decision over a final outcome (CONFIRMED or FAILED) is refused unless the person
says ``override``; the override then names what it overrode.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.notifications import verdict_of
from biller_server.domain.payments.outcomes import (
    AppliedOutcome,
    apply_payment_outcome,
    note_payment_event,
    override_payment_outcome,
)
from biller_server.domain.staff.audit import NO_ORIGIN, AuditOrigin, record_audit
from biller_server.persistence.models import (
    Job,
    JobKind,
    JobState,
    Payment,
    PaymentNotification,
    PaymentStatus,
)
from biller_server.persistence.types import MAX_ROW_ID

CONFIRMATION_KINDS = (JobKind.CONFIRM_PAYMENT, JobKind.RECORD_OFFLINE_PAYMENT)
FINAL = (PaymentStatus.CONFIRMED, PaymentStatus.FAILED)


class DecisionRefused(DomainError):
    code = "decision-refused"
    # Refused only because the outcome is final: the same decision with ``override`` would be taken.
    needs_override = False


class FinalOutcome(DecisionRefused):
    needs_override = True


class Decision(enum.StrEnum):
    CONFIRMED = "confirmed"
    FAILED = "failed"

    @property
    def outcome(self) -> Outcome:
        return Outcome.SUCCEEDED if self is Decision.CONFIRMED else Outcome.FAILED


def decision_line(message: str, changed: bool) -> str:
    """What the person is told: a decision taken again (every one is idempotent) says it changed nothing."""
    return message if changed else f"{message} (nothing changed)"


@dataclass(frozen=True)
class DecisionResult:
    payment_id: int
    status: PaymentStatus
    changed: bool
    message: str  # one line for the person who decided


def resolve_payment(
    *,
    session: Session,
    payment_id: int,
    decision: Decision | str,
    note: str,
    by: str,
    now: dt.datetime,
    evidence: str | None = None,
    override: bool = False,
    origin: AuditOrigin = NO_ORIGIN,
) -> DecisionResult:
    """Record a person's verdict on a payment and end its confirmation job.

    RECEIVED or UNRESOLVED: applied like a partner's answer (a failure takes the amount off the bill once). Already
    final: refused, unless ``override`` (which also clears a flag). The same verdict again changes nothing.
    """
    decision = Decision(decision)
    note = _required_note(note)
    payment = _locked_payment(session, payment_id)
    target = PaymentStatus.CONFIRMED if decision is Decision.CONFIRMED else PaymentStatus.FAILED
    detail: dict[str, Any] = {"decided_by": by, "note": note}
    if evidence:
        detail["evidence"] = evidence
    source = f"person:{by}"[:40]
    if payment.status is target and not payment.flagged:
        return DecisionResult(payment.id, payment.status, False, f"payment {payment.id} is already {target.value}")
    if payment.status in FINAL:
        if not override:
            flag = f", flagged: {payment.flag_reason}" if payment.flagged else ""
            raise FinalOutcome(
                f"payment {payment.id} is already {payment.status.value}{flag}; "
                "add --override to put your decision over it"
            )
        before = f"{payment.status.value}" + (f" (flag: {payment.flag_reason})" if payment.flagged else "")
        override_payment_outcome(
            session=session, payment=payment, outcome=decision.outcome, source=source, detail=detail, now=now
        )
        _settle_held_notifications(session, payment, by=by, note=note, now=now)
        message = f"payment {payment.id} is now {target.value}; overrode {before}"
    else:
        applied = apply_payment_outcome(
            session=session,
            payment=payment,
            outcome=decision.outcome,
            source=source,
            reason=note,
            now=now,
            detail=detail,
        )
        if applied not in (AppliedOutcome.CONFIRMED, AppliedOutcome.FAILED):  # pragma: no cover - guarded above
            raise AssertionError(applied)
        message = f"payment {payment.id} is now {target.value}"
    ended = end_confirmation_jobs(session=session, payment_id=payment.id, outcome="decided", now=now)
    if ended:
        message += f"; confirmation job {', '.join(str(job_id) for job_id in ended)} ended"
    record_audit(
        session=session,
        actor=by,
        action=f"payment.resolve.{decision.value}",
        outcome="ok",
        now=now,
        target=f"payment:{payment.id}",
        note=note,
        detail={key: value for key, value in detail.items() if key != "note"} | {"override": override},
        source_address=origin.source_address,
        request_id=origin.request_id,
    )
    return DecisionResult(payment.id, payment.status, True, message)


def end_confirmation_jobs(*, session: Session, payment_id: int, outcome: str, now: dt.datetime) -> list[int]:
    """Finish the payment's live confirmation jobs: a worker holding one discards its answer (its lease is gone)."""
    jobs = session.scalars(
        sa.select(Job)
        .where(Job.payment_id == payment_id, Job.kind.in_(CONFIRMATION_KINDS), Job.state == JobState.PENDING)
        .with_for_update()
    ).all()
    for job in jobs:
        job.state, job.outcome, job.finished_at = JobState.DONE, outcome, now
        job.lease_owner = job.lease_expires_at = None
    return [job.id for job in jobs]


@dataclass(frozen=True)
class RecheckResult:
    job_id: int
    attempts: int  # the job's attempts when it was made due: an answer raises it
    created: bool  # a new job (the payment's earlier one had finished)
    message: str


def recheck_payment(
    *, session: Session, payment_id: int, by: str, now: dt.datetime, origin: AuditOrigin = NO_ORIGIN
) -> RecheckResult:
    """Ask the partner now: the payment's live job is made due at once, or an UNRESOLVED payment gets a new job
    that asks once (``payload["once"]``). A final payment has nothing left to ask."""
    payment = _locked_payment(session, payment_id)
    if payment.status in FINAL:
        raise DecisionRefused(f"payment {payment.id} is already {payment.status.value}: nothing to ask")
    jobs = list(
        session.scalars(
            sa.select(Job)
            .where(Job.payment_id == payment.id, Job.kind.in_(CONFIRMATION_KINDS))
            .order_by(Job.id.desc())
            .with_for_update()
        )
    )
    if not jobs:
        raise DecisionRefused(f"payment {payment.id} has no partner to ask (it never had a confirmation job)")
    live = next((job for job in jobs if job.state is JobState.PENDING), None)
    created = False
    if live is not None:
        if live.lease_owner is not None and live.lease_expires_at is not None and live.lease_expires_at > now:
            message = f"job {live.id} is asking {live.partner} right now"
        else:
            live.due_at = now
            message = f"job {live.id} will ask {live.partner} now"
        job = live
    else:
        last = jobs[0]
        payload = dict(last.payload)
        if last.kind is JobKind.RECORD_OFFLINE_PAYMENT and not payload.get("post_attempted_at"):
            raise DecisionRefused(
                f"payment {payment.id} was never posted to {last.partner}: nothing to ask (post it, or resolve it)"
            )
        job = Job(
            kind=last.kind,
            partner=last.partner,
            payment_id=payment.id,
            payload={**payload, "once": True},
            anchor_at=now,
            due_at=now,
        )
        session.add(job)
        session.flush()
        created = True
        message = f"new job {job.id} will ask {last.partner} once, now"
    note_payment_event(
        session=session,
        payment=payment,
        kind="recheck_requested",
        source=f"person:{by}",
        detail={"decided_by": by, "job": job.id},
        now=now,
    )
    record_audit(
        session=session,
        actor=by,
        action="payment.recheck",
        outcome="ok",
        now=now,
        target=f"payment:{payment.id}",
        source_address=origin.source_address,
        request_id=origin.request_id,
    )
    session.flush()
    return RecheckResult(job.id, job.attempts, created, message)


def recheck_answer(*, session: Session, payment_id: int, asked: RecheckResult) -> str | None:
    """The partner's answer to a recheck, once a worker has asked (the job's attempts rose and its lease is
    released); None while nobody has."""
    job = session.get(Job, asked.job_id)
    payment = session.get(Payment, payment_id)
    if job is None or payment is None or job.attempts <= asked.attempts or job.lease_owner is not None:
        return None
    answer = job.last_error or job.outcome or "no answer"
    return f"answer: {answer}; payment {payment.id} is {payment.status.value}"


def wait_for_recheck_answer(
    *,
    open_session: Callable[[], AbstractContextManager[Session]],
    payment_id: int,
    asked: RecheckResult,
    timeout_seconds: float,
    sleep: Callable[[float], None] | None = None,
) -> str | None:
    """Look for the answer every half second, each time in a short session of its own (a worker must be able to
    write meanwhile), for up to ``timeout_seconds``; None if it did not come: the job stays queued."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        with open_session() as session:
            answer = recheck_answer(session=session, payment_id=payment_id, asked=asked)
        if answer is not None:
            return answer
        if time.monotonic() >= deadline:
            return None
        (sleep or time.sleep)(0.5)


def held_notifications(*, session: Session) -> list[PaymentNotification]:
    """Notifications a person must settle: for a refId we do not know, or contradicting a final verdict."""
    return list(
        session.scalars(
            sa.select(PaymentNotification)
            .where(PaymentNotification.needs_reconciliation.is_(True))
            .order_by(PaymentNotification.id)
        )
    )


def held_because(notification: PaymentNotification) -> str:
    """Why a notification waits for a person, in the words shown beside it."""
    if notification.payment_id is None:
        return "no payment with this refId"
    return "contradicts the payment's final status"


def match_notification(
    *,
    session: Session,
    notification_id: int,
    payment_id: int,
    by: str,
    now: dt.datetime,
    note: str | None = None,
    origin: AuditOrigin = NO_ORIGIN,
) -> DecisionResult:
    """Apply a held notification's verdict to the payment a person says it is about (same channel)."""
    notification = _locked_notification(session, notification_id)
    if notification.resolution == "matched" and notification.payment_id == payment_id:
        payment = _locked_payment(session, payment_id)
        return DecisionResult(
            payment.id, payment.status, False, f"notification {notification.id} is already matched to {payment.id}"
        )
    if not notification.needs_reconciliation:
        raise DecisionRefused(f"notification {notification.id} is not held ({notification.resolution or 'applied'})")
    if notification.payment_id is not None:
        raise DecisionRefused(
            f"notification {notification.id} is about payment {notification.payment_id} and contradicts it: "
            "decide with `payments resolve --override`, then dismiss it"
        )
    payment = _locked_payment(session, payment_id)
    if payment.channel is not notification.channel:
        raise DecisionRefused(
            f"notification {notification.id} came from {notification.channel.value}; "
            f"payment {payment.id} is a {payment.channel.value} payment"
        )
    detail = {"decided_by": by, "notification": notification.id, "ref_id": notification.ref_id}
    if note:
        detail["note"] = note
    applied = apply_payment_outcome(
        session=session,
        payment=payment,
        outcome=verdict_of(notification.reported_status),
        source=f"{notification.channel.value}_notification",
        reason=notification.reason,
        reason_codes=notification.reason_codes,
        now=now,
        detail=detail,
    )
    if applied is AppliedOutcome.UNCHANGED:
        note_payment_event(
            session=session, payment=payment, kind="notification_matched", source=f"person:{by}", detail=detail, now=now
        )
    notification.payment_id = payment.id
    _resolve(notification, "matched", by=by, note=note, now=now)
    record_audit(
        session=session,
        actor=by,
        action="notification.match",
        outcome="ok",
        now=now,
        target=f"payment:{payment.id}",
        note=note,
        detail={"notification": notification.id, "applied": applied.value},
        source_address=origin.source_address,
        request_id=origin.request_id,
    )
    session.flush()
    return DecisionResult(
        payment.id,
        payment.status,
        True,
        f"notification {notification.id} ({notification.reported_status}) matched to payment {payment.id}: "
        f"{applied.value}",
    )


def dismiss_notification(
    *,
    session: Session,
    notification_id: int,
    note: str,
    by: str,
    now: dt.datetime,
    origin: AuditOrigin = NO_ORIGIN,
) -> tuple[bool, str]:
    """Set a held notification aside with a reason; the books do not change."""
    note = _required_note(note)
    notification = _locked_notification(session, notification_id)
    if notification.resolution == "dismissed":
        return False, f"notification {notification.id} is already dismissed"
    if not notification.needs_reconciliation:
        raise DecisionRefused(f"notification {notification.id} is not held ({notification.resolution or 'applied'})")
    _resolve(notification, "dismissed", by=by, note=note, now=now)
    if notification.payment_id is not None:
        payment = session.get(Payment, notification.payment_id)
        if payment is not None:
            detail = {"decided_by": by, "notification": notification.id, "note": note}
            note_payment_event(
                session=session,
                payment=payment,
                kind="notification_dismissed",
                source=f"person:{by}",
                detail=detail,
                now=now,
            )
    record_audit(
        session=session,
        actor=by,
        action="notification.dismiss",
        outcome="ok",
        now=now,
        target=f"notification:{notification.id}",
        note=note,
        source_address=origin.source_address,
        request_id=origin.request_id,
    )
    session.flush()
    return True, f"notification {notification.id} dismissed"


def _settle_held_notifications(session: Session, payment: Payment, *, by: str, note: str, now: dt.datetime) -> None:
    """An override decides what the payment's contradicting notifications were held for."""
    held = session.scalars(
        sa.select(PaymentNotification).where(
            PaymentNotification.payment_id == payment.id, PaymentNotification.needs_reconciliation.is_(True)
        )
    )
    for notification in held:
        _resolve(notification, "decided", by=by, note=note, now=now)


def _resolve(
    notification: PaymentNotification, resolution: str, *, by: str, note: str | None, now: dt.datetime
) -> None:
    notification.needs_reconciliation = False
    notification.resolution = resolution
    notification.resolved_by = by[:100]
    notification.resolved_at = now
    notification.resolution_note = note


def _locked_payment(session: Session, payment_id: int) -> Payment:
    if not 0 < payment_id <= MAX_ROW_ID:  # no such row, and PostgreSQL would refuse the number
        raise DecisionRefused(f"no payment {payment_id}")
    payment = session.scalars(
        sa.select(Payment).where(Payment.id == payment_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if payment is None:
        raise DecisionRefused(f"no payment {payment_id}")
    return payment


def _locked_notification(session: Session, notification_id: int) -> PaymentNotification:
    if not 0 < notification_id <= MAX_ROW_ID:
        raise DecisionRefused(f"no notification {notification_id}")
    notification = session.scalars(
        sa.select(PaymentNotification)
        .where(PaymentNotification.id == notification_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if notification is None:
        raise DecisionRefused(f"no notification {notification_id}")
    return notification


def _required_note(note: str | None) -> str:
    text = (note or "").strip()
    if not text:
        raise DecisionRefused("say why: --note is required")
    return text[:2000]
