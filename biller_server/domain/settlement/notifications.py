"""A partner's settlement events (Setu's ``BILL_SETTLEMENT_STATUS``): stored before they are answered, applied to
the payments they name, and what does not match kept for the settlement reconciliation.

The event id is the key: a repeat changes nothing; a repeat with other content leaves the first standing and marks
the event for reconciliation. Each bill id the event names is matched to the channel's payment carrying it as
``partner_bill_ref`` (Setu's ``platformBillID``) and that payment is confirmed: a settlement is the strongest proof
that the money moved. An id no payment carries waits unmatched; recording that payment later links it
(``link_waiting_settlements``). The decisions are in docs/channels/setu.md ("POST {prefix}/notifications").
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.india import IST
from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.notifications import fingerprint_of
from biller_server.domain.payments.outcomes import apply_payment_outcome
from biller_server.domain.settlement.lines import record_partner_settlement
from biller_server.persistence.chunks import in_chunks
from biller_server.persistence.models import Channel, Payment, SettlementEvent, SettlementEventBill
from biller_server.persistence.upsert import insert_for

SETTLEMENT_TYPE = "BILL_SETTLEMENT_STATUS"
SETTLED = "SETTLEMENT_SUCCESSFUL"


class SettlementOutcome(enum.StrEnum):
    APPLIED = "applied"  # every bill id matched a payment
    PARTLY_MATCHED = "partly_matched"
    UNMATCHED = "unmatched"
    NOT_SUCCESSFUL = "not_successful"  # a settlement status other than SETTLEMENT_SUCCESSFUL: kept, not applied
    OTHER_TYPE = "other_type"  # an event type this biller does not act on: kept as sent
    REPEATED = "repeated"  # the same event again: nothing changed (never stored as an outcome)
    CONFLICTING_REPEAT = "conflicting_repeat"  # the same id with other content: the first stands (never stored)


@dataclass(frozen=True)
class SettlementNotice:
    """One event of a partner's notification, in plain values; ``body`` is the event as sent, for the record."""

    event_id: str
    event_type: str
    occurred_at: dt.datetime
    body: dict[str, Any]
    status: str | None = None
    settlement_ref: str | None = None
    amount_settled_paise: int | None = None
    platform_bill_ids: Sequence[str] = ()


def receive_settlement_notification(
    *, session: Session, channel: Channel, events: Sequence[SettlementNotice], now: dt.datetime
) -> list[SettlementOutcome]:
    """Store each event and apply the new settlements to the payments they name; the caller commits."""
    return [_receive(session, channel, event, now) for event in events]


def _receive(session: Session, channel: Channel, event: SettlementNotice, now: dt.datetime) -> SettlementOutcome:
    fingerprint = fingerprint_of(event.body)
    settlement = event.event_type == SETTLEMENT_TYPE
    if not settlement:
        outcome = SettlementOutcome.OTHER_TYPE
    elif event.status != SETTLED:
        outcome = SettlementOutcome.NOT_SUCCESSFUL
    else:
        outcome = SettlementOutcome.UNMATCHED  # until the bills are matched, below
    # One INSERT that does nothing when the id is known: concurrent deliveries of one event store it once (on
    # PostgreSQL the second waits for the first to commit, then finds it).
    event_row_id = session.execute(
        insert_for(session, SettlementEvent.__table__)
        .values(
            channel=channel,
            event_id=event.event_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            received_at=now,
            status=event.status,
            settlement_ref=event.settlement_ref,
            amount_settled_paise=event.amount_settled_paise,
            matched_paise=0,
            fingerprint=fingerprint,
            body=event.body,
            outcome=outcome,
            needs_reconciliation=outcome is SettlementOutcome.NOT_SUCCESSFUL,
            conflicting_repeats=0,
        )
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        .returning(SettlementEvent.__table__.c.id)
    ).scalar_one_or_none()
    if event_row_id is None:
        return _repeat(session, channel, event.event_id, fingerprint)
    if not settlement:
        return outcome

    bill_ids = list(dict.fromkeys(event.platform_bill_ids))
    payments = _lock_payments(session, channel, bill_ids)
    session.execute(
        sa.insert(SettlementEventBill),
        [
            {
                "settlement_event_id": event_row_id,
                "platform_bill_id": bill_id,
                "payment_id": payments[bill_id].id if bill_id in payments else None,
            }
            for bill_id in bill_ids
        ],
    )
    if outcome is SettlementOutcome.NOT_SUCCESSFUL:
        return outcome
    for payment in sorted(payments.values(), key=lambda payment: payment.id):
        _confirm(session, payment, event.settlement_ref or event.event_id, now)
    _record_line(
        session,
        channel=channel,
        settlement_ref=event.settlement_ref or event.event_id,
        occurred_at=event.occurred_at,
        amount_paise=event.amount_settled_paise,
        payments=list(payments.values()),
        now=now,
    )
    if len(payments) == len(bill_ids):
        outcome = SettlementOutcome.APPLIED
    elif payments:
        outcome = SettlementOutcome.PARTLY_MATCHED
    session.execute(
        sa.update(SettlementEvent)
        .where(SettlementEvent.id == event_row_id)
        .values(
            outcome=outcome,
            matched_paise=sum(payment.amount_paise for payment in payments.values()),
            needs_reconciliation=outcome is not SettlementOutcome.APPLIED,
        )
    )
    return outcome


def _repeat(session: Session, channel: Channel, event_id: str, fingerprint: str) -> SettlementOutcome:
    stored = session.scalars(
        sa.select(SettlementEvent)
        .where(SettlementEvent.channel == channel, SettlementEvent.event_id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if stored.fingerprint == fingerprint:
        return SettlementOutcome.REPEATED
    # The partner re-sends only on an error, and a retry cannot make the two agree: a person looks.
    stored.conflicting_repeats += 1
    stored.needs_reconciliation = True
    session.flush()
    return SettlementOutcome.CONFLICTING_REPEAT


def _lock_payments(session: Session, channel: Channel, bill_ids: list[str]) -> dict[str, Payment]:
    """The channel's payments carrying these bill ids, locked in id order (concurrent events cannot deadlock);
    the first payment per id when several carry one."""
    found: dict[str, Payment] = {}
    for chunk in in_chunks(bill_ids):
        rows = session.scalars(
            sa.select(Payment)
            .where(Payment.channel == channel, Payment.partner_bill_ref.in_(chunk))
            .order_by(Payment.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        for payment in rows:
            assert payment.partner_bill_ref is not None
            found.setdefault(payment.partner_bill_ref, payment)
    return found


def link_waiting_settlements(*, session: Session, payment: Payment, now: dt.datetime) -> int:
    """A payment recorded after the settlement that names it (its posting was refused at first): link it to the
    waiting settlement and confirm it. Returns how many settlements it was linked to."""
    if payment.partner_bill_ref is None:
        return 0
    waiting = session.execute(
        sa.select(SettlementEventBill, SettlementEvent)
        .join(SettlementEvent, SettlementEvent.id == SettlementEventBill.settlement_event_id)
        .where(
            SettlementEventBill.platform_bill_id == payment.partner_bill_ref,
            SettlementEventBill.payment_id.is_(None),
            SettlementEvent.channel == payment.channel,
            SettlementEvent.event_type == SETTLEMENT_TYPE,
            SettlementEvent.status == SETTLED,
        )
        .order_by(SettlementEvent.id)
        .with_for_update()
    ).all()
    for link, event in waiting:
        link.payment_id = payment.id
        event.matched_paise += payment.amount_paise
        session.flush()
        unmatched = session.scalar(
            sa.select(sa.func.count())
            .select_from(SettlementEventBill)
            .where(SettlementEventBill.settlement_event_id == event.id, SettlementEventBill.payment_id.is_(None))
        )
        event.outcome = SettlementOutcome.APPLIED if not unmatched else SettlementOutcome.PARTLY_MATCHED
        event.needs_reconciliation = bool(unmatched) or event.conflicting_repeats > 0
    if waiting:
        first = waiting[0][1]
        _confirm(session, payment, first.settlement_ref or first.event_id, now)
    for _link, event in waiting:
        _record_line(
            session,
            channel=payment.channel,
            settlement_ref=event.settlement_ref or event.event_id,
            occurred_at=event.occurred_at,
            amount_paise=event.amount_settled_paise,
            payments=[payment],
            now=now,
        )
    return len(waiting)


def _record_line(
    session: Session,
    *,
    channel: Channel,
    settlement_ref: str,
    occurred_at: dt.datetime,
    amount_paise: int | None,
    payments: Sequence[Payment],
    now: dt.datetime,
) -> None:
    """The settlement as the reconciliation sees it (docs/reconciliation.md): one line under the partner's transfer
    reference, covering the payments matched so far; a payment matched later is added to the same line. Bill ids
    no payment carries yet stay on the event (``settlements_to_reconcile``), never on the line."""
    record_partner_settlement(
        session=session,
        partner=channel.value,
        settlement_ref=settlement_ref,
        settled_on=occurred_at.astimezone(IST).date(),
        amount_paise=amount_paise if amount_paise is not None else sum(payment.amount_paise for payment in payments),
        payment_refs=[payment.partner_txn_ref for payment in payments],
        source=f"{channel.value}:notification",
        now=now,
    )


def _confirm(session: Session, payment: Payment, settlement: str, now: dt.datetime) -> None:
    """A settlement is the strongest proof that the money moved; one already FAILED is flagged, never flipped."""
    apply_payment_outcome(
        session=session,
        payment=payment,
        outcome=Outcome.SUCCEEDED,
        source=f"{payment.channel.value}_settlement",
        reason=f"settled in {settlement}",
        now=now,
    )


def settlements_to_reconcile(*, session: Session, channel: Channel | None = None) -> list[SettlementEvent]:
    """Settlement events a person (or the settlement reconciliation) must look at, oldest first."""
    query = sa.select(SettlementEvent).where(SettlementEvent.needs_reconciliation.is_(True))
    if channel is not None:
        query = query.where(SettlementEvent.channel == channel)
    return list(session.scalars(query.order_by(SettlementEvent.id)))
