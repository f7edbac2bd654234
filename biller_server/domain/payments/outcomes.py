"""What a partner's word about a payment does to the books.

Used by the confirmation engine (status checks) and by push notifications (Digiledge's Payment Notification):
both hand the outcome to ``apply_payment_outcome`` and get the same rules. A final outcome is applied once; a
later answer that contradicts it never flips the payment silently, it flags it for a person. The caller holds
the payment row locked (SELECT ... FOR UPDATE) and commits.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.events import announce_final_state
from biller_server.persistence.direct import DirectStatement
from biller_server.persistence.models import Bill, BillStatus, Payment, PaymentEvent, PaymentStatus
from biller_server.persistence.rows import bound_columns, hold_committed
from biller_server.persistence.types import utcnow

_FINAL_STATUS = {Outcome.SUCCEEDED: PaymentStatus.CONFIRMED, Outcome.FAILED: PaymentStatus.FAILED}

# Every notification and every confirmation ends here: its two writes are Core statements built once and run on the
# driver's cursor, which cost a fraction of a unit-of-work flush (bench/RESULTS.md, "Payment outcomes without a
# flush").
_PAYMENTS = Payment.__table__
_TRANSITION_COLUMNS = ("status", "status_reason", "reason_codes", "applied_to_bill", "updated_at")
_SET_TRANSITION = DirectStatement(
    _PAYMENTS.update()
    .where(_PAYMENTS.c.id == sa.bindparam("payment_id"))
    .values(bound_columns(_PAYMENTS, _TRANSITION_COLUMNS, prefix="new_"))
)
# inline(): no RETURNING of the event's id, which nobody reads. Its values are bound by column name.
_INSERT_EVENT = DirectStatement(
    PaymentEvent.__table__.insert()
    .values(
        bound_columns(
            PaymentEvent.__table__,
            ("payment_id", "occurred_at", "kind", "from_status", "to_status", "source", "detail"),
        )
    )
    .inline()
)


class AppliedOutcome(enum.StrEnum):
    """What ``apply_payment_outcome`` did."""

    CONFIRMED = "confirmed"
    FAILED = "failed"
    UNCHANGED = "unchanged"  # the payment already had this outcome, or the answer was not final
    FLAGGED = "flagged"  # the answer contradicts the payment's final status; a person must look


def apply_payment_outcome(
    *,
    session: Session,
    payment: Payment,
    outcome: Outcome | str,
    source: str,
    reason: str | None = None,
    reason_codes: list[dict[str, Any]] | None = None,
    now: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> AppliedOutcome:
    """Apply a partner's outcome to the payment: confirm it, fail it (reversing its effect on the bill) or flag it.

    ``pending`` and ``not_found`` change nothing. An UNRESOLVED payment still takes a final answer: a late answer
    is what the person looking at it was waiting for. ``detail`` is added to the event (a person's decision: who,
    why, on what evidence).
    """
    outcome = Outcome(outcome)
    if not outcome.is_final:
        return AppliedOutcome.UNCHANGED
    target = _FINAL_STATUS[outcome]
    current = payment.status
    if current is target:
        return AppliedOutcome.UNCHANGED
    if current in (PaymentStatus.CONFIRMED, PaymentStatus.FAILED):
        return _flag_contradiction(session, payment, outcome, source, reason, reason_codes, now)

    if outcome is Outcome.FAILED:
        _reverse_bill_effect(session, payment)
    _set_transition(
        session,
        payment,
        status=target,
        status_reason=_short(reason),
        reason_codes=(list(reason_codes) if reason_codes else None)
        if outcome is Outcome.FAILED
        else payment.reason_codes,
        applied_to_bill=payment.applied_to_bill,
    )
    _INSERT_EVENT.run(
        session,
        {
            "payment_id": payment.id,
            "occurred_at": now,
            "kind": target.value.lower(),
            "from_status": current.value,
            "to_status": target.value,
            "source": source,
            "detail": {**_detail(reason, reason_codes), **(detail or {})},
        },
    )
    session.expire(payment, ["events"])  # read afresh, with this one, if anyone asks
    announce_final_state(session=session, payment=payment, previous=current, now=now)  # the lender's webhook
    session.flush()  # what the ORM still holds: the webhook's delivery job
    return AppliedOutcome.CONFIRMED if outcome is Outcome.SUCCEEDED else AppliedOutcome.FAILED


def override_payment_outcome(
    *, session: Session, payment: Payment, outcome: Outcome | str, source: str, detail: dict[str, Any], now: dt.datetime
) -> bool:
    """A person's word over a final outcome: turn a CONFIRMED payment FAILED or back, and clear its flag.

    The bill follows: a failed payment's amount comes off it once, a confirmed one's goes back on once. Returns
    whether anything changed (the same decision again changes nothing).
    """
    target = _FINAL_STATUS[Outcome(outcome)]
    current = payment.status
    if current is target and not payment.flagged:
        return False
    if target is PaymentStatus.FAILED:
        _reverse_bill_effect(session, payment)
    elif not payment.applied_to_bill:
        _reapply_bill_effect(session, payment)
    detail = {**detail, "overrode": {"status": current.value, "flag": payment.flag_reason if payment.flagged else None}}
    payment.status = target
    payment.flagged = False
    payment.flag_reason = None
    if target is PaymentStatus.CONFIRMED:
        payment.reason_codes = None
    payment.status_reason = _short(str(detail.get("reason") or "")) or None
    session.add(
        PaymentEvent(
            payment_id=payment.id,
            occurred_at=now,
            kind="decision_override",
            from_status=current.value,
            to_status=target.value,
            source=source,
            detail=detail,
        )
    )
    if current is not target:
        announce_final_state(session=session, payment=payment, previous=current, now=now)
    session.flush()
    return True


def mark_payment_unresolved(*, session: Session, payment: Payment, source: str, reason: str, now: dt.datetime) -> bool:
    """Hand a payment whose outcome could not be established to a person; its effect on the bill stays.

    Only a payment still waiting (RECEIVED) is marked: one confirmed or failed by another source keeps its status.
    """
    if payment.status is not PaymentStatus.RECEIVED:
        return False
    payment.status = PaymentStatus.UNRESOLVED
    payment.status_reason = _short(reason)
    session.add(
        PaymentEvent(
            payment_id=payment.id,
            occurred_at=now,
            kind="unresolved",
            from_status=PaymentStatus.RECEIVED.value,
            to_status=PaymentStatus.UNRESOLVED.value,
            source=source,
            detail={"reason": reason},
        )
    )
    announce_final_state(session=session, payment=payment, previous=PaymentStatus.RECEIVED, now=now)
    session.flush()
    return True


def note_payment_event(
    *, session: Session, payment: Payment, kind: str, source: str, detail: dict[str, Any] | None, now: dt.datetime
) -> PaymentEvent:
    """Add an event that leaves the payment's status as it is (a flag, a settlement, a person's recheck)."""
    event = PaymentEvent(
        payment_id=payment.id,
        occurred_at=now,
        kind=kind[:40],
        from_status=payment.status.value,
        to_status=payment.status.value,
        source=source[:40],
        detail=detail,
    )
    session.add(event)
    return event


def _set_transition(session: Session, payment: Payment, **values: Any) -> None:
    """Write the payment's new state in one Core UPDATE, and make the session's object hold it as committed (no
    history: the unit of work has nothing left to write for it)."""
    values["updated_at"] = utcnow()  # what the ORM's onupdate would write
    parameters = {f"new_{name}": value for name, value in values.items()}
    if values["reason_codes"] is None:
        # A JSON column binds None as JSON's null; the ORM (and every other writer) leaves SQL NULL there.
        parameters["new_reason_codes"] = sa.null()
    # What Session.execute's autoflush did: rows the ORM holds (an event noted before, a failed payment's bill) are
    # written first, so the payment's events keep the order in which they happened.
    session.flush()
    _SET_TRANSITION.run(session, {"payment_id": payment.id, **parameters})
    hold_committed(payment, values)


def _reverse_bill_effect(session: Session, payment: Payment) -> None:
    """Take a failed payment's amount back off its bill; the receipt row stays as the record of what was issued."""
    if not payment.applied_to_bill:
        return
    # Lock the bill: a concurrent payment against it must see the reversed balance.
    bill = session.scalars(
        sa.select(Bill).where(Bill.id == payment.bill_id).with_for_update().execution_options(populate_existing=True)
    ).one()
    bill.paid_paise = max(bill.paid_paise - payment.amount_paise, 0)
    if bill.status not in (BillStatus.CANCELLED, BillStatus.CLOSED):
        if bill.paid_paise == 0:
            bill.status = BillStatus.OPEN
        elif bill.paid_paise < bill.amount_paise:
            bill.status = BillStatus.PARTIALLY_PAID
        else:
            bill.status = BillStatus.PAID
    payment.applied_to_bill = False


def _reapply_bill_effect(session: Session, payment: Payment) -> None:
    """Put a payment's amount back on its bill (a person overrode its failure)."""
    bill = session.scalars(
        sa.select(Bill).where(Bill.id == payment.bill_id).with_for_update().execution_options(populate_existing=True)
    ).one()
    bill.paid_paise += payment.amount_paise
    if bill.status not in (BillStatus.CANCELLED, BillStatus.CLOSED):
        bill.status = BillStatus.PAID if bill.paid_paise >= bill.amount_paise else BillStatus.PARTIALLY_PAID
    payment.applied_to_bill = True


def _flag_contradiction(
    session: Session,
    payment: Payment,
    outcome: Outcome,
    source: str,
    reason: str | None,
    reason_codes: list[dict[str, Any]] | None,
    now: dt.datetime,
) -> AppliedOutcome:
    payment.flagged = True
    payment.flag_reason = _short(f"{source} reported {outcome.value} for a payment already {payment.status.value}")
    detail = _detail(reason, reason_codes)
    detail["reported_outcome"] = outcome.value
    note_payment_event(
        session=session, payment=payment, kind="outcome_contradicted", source=source, detail=detail, now=now
    )
    session.flush()
    return AppliedOutcome.FLAGGED


def _detail(reason: str | None, reason_codes: list[dict[str, Any]] | None) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if reason:
        detail["reason"] = reason
    if reason_codes:
        detail["reason_codes"] = reason_codes
    return detail


def _short(text: str | None) -> str | None:
    return None if text is None else text[:200]
