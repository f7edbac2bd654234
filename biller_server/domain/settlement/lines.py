"""What partners say they settled: one settlement line per transfer (UTR) to the lender's bank, covering payments.

``record_partner_settlement`` is the one door for every source (a partner's report file, Setu's
BILL_SETTLEMENT_STATUS notification, a future Reports API client): plain values in, the line and the payments'
settlement state out. ``note_partner_settlement_status`` keeps the partner's status words about one payment
(Kaleidofin's CREDIT_RECEIVED / SETTLEMENT_SUCCESSFUL / SETTLEMENT_FAILED) where no transfer is named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.payments.outcomes import note_payment_event
from biller_server.persistence.models import (
    Channel,
    Payment,
    SettlementItem,
    SettlementLine,
    SettlementState,
)

# The partners' status words (Setu's platformBillStatus; Kaleidofin's billStatus mirrors them) that speak of
# settlement, and the state each puts a payment in.
STATUS_WORDS = {
    "CREDIT_RECEIVED": SettlementState.CREDIT_RECEIVED,
    "SETTLEMENT_SUCCESSFUL": SettlementState.SETTLED,
    "SETTLEMENT_FAILED": SettlementState.SETTLEMENT_FAILED,
}
# A later word never takes a payment back: settled stays settled whatever an older answer says.
_RANK = {None: 0, SettlementState.CREDIT_RECEIVED: 1, SettlementState.SETTLEMENT_FAILED: 2, SettlementState.SETTLED: 3}


class SettlementRefused(DomainError):
    code = "settlement-refused"


@dataclass(frozen=True)
class RecordedSettlement:
    line_id: int
    created: bool  # a new line (False: the same partner and reference were recorded before)
    changed: bool  # anything written now (False: an exact repeat)
    payment_ids: list[int] = field(default_factory=list)  # our payments the line covers
    unknown_refs: list[str] = field(default_factory=list)  # references that name none of our payments


def record_partner_settlement(
    *,
    session: Session,
    partner: str,
    settlement_ref: str,
    settled_on: dt.date,
    amount_paise: int,
    payment_refs: Sequence[str] | Mapping[str, int | None],
    source: str,
    now: dt.datetime,
) -> RecordedSettlement:
    """Record that ``partner`` sent ``amount_paise`` to the lender's bank on ``settled_on`` under ``settlement_ref``
    (the UTR the bank statement will show), for the payments named by ``payment_refs``.

    - ``partner``: the partner's name as the books write it (``setu``, ``kaleidofin``, ``digiledge``...). When it
      names a channel, a reference is looked up among that channel's payments only.
    - ``amount_paise``: what reaches the bank (after the partner's charges), compared with the bank's credit.
    - ``payment_refs``: the partner's references of the payments covered (our ``partner_txn_ref`` or
      ``customer_txn_ref``: Setu's paymentReferenceID, Kaleidofin's transactionId, Digiledge's refId); as a
      mapping, each with the amount the partner says was paid (compared with our payment's amount), or None.
    - ``source``: where it came from, kept with the line (``file:setu-2026-11-29.csv``, ``setu:notification``).

    Idempotent: the same partner and reference again adds only references not seen before; a changed amount or
    date replaces the old one (a corrected report). Each payment covered gets state SETTLED, the reference and the
    date, and a ``settled`` event once. The caller commits.
    """
    settlement_ref = settlement_ref.strip()
    if not settlement_ref:
        raise SettlementRefused("a settlement line needs its reference (the UTR)")
    if amount_paise < 0:
        raise SettlementRefused(f"settlement {settlement_ref}: the amount is negative")
    amounts = dict(payment_refs) if isinstance(payment_refs, Mapping) else dict.fromkeys(payment_refs)
    line = session.scalars(
        sa.select(SettlementLine)
        .where(SettlementLine.partner == partner, SettlementLine.settlement_ref == settlement_ref)
        .with_for_update()
    ).one_or_none()
    created = changed = False
    if line is None:
        line = SettlementLine(
            partner=partner[:24],
            settlement_ref=settlement_ref[:100],
            settled_on=settled_on,
            amount_paise=amount_paise,
            source=source[:100],
            created_at=now,
            updated_at=now,
        )
        session.add(line)
        session.flush()
        created = changed = True
    elif (line.settled_on, line.amount_paise) != (settled_on, amount_paise):
        line.settled_on, line.amount_paise, line.source = settled_on, amount_paise, source[:100]
        line.updated_at = now
        changed = True
    known = {
        item.payment_ref: item
        for item in session.scalars(sa.select(SettlementItem).where(SettlementItem.line_id == line.id))
    }
    payments = _payments_by_ref(session, partner, list(amounts))
    for ref, amount in amounts.items():
        payment = payments.get(ref)
        item = known.get(ref)
        if item is None:
            item = SettlementItem(line_id=line.id, payment_ref=ref[:100], amount_paise=amount)
            session.add(item)
            changed = True
        elif amount is not None and item.amount_paise != amount:
            item.amount_paise = amount
            changed = True
        if payment is not None and item.payment_id != payment.id:
            item.payment_id = payment.id
            changed = True
        if payment is not None and _mark_settled(session, payment, line, source, now):
            changed = True
    session.flush()
    return RecordedSettlement(
        line_id=line.id,
        created=created,
        changed=changed,
        payment_ids=sorted(payment.id for payment in payments.values()),
        unknown_refs=sorted(ref for ref in amounts if ref not in payments),
    )


def note_partner_settlement_status(
    *, session: Session, payment: Payment, status_word: str | None, source: str, now: dt.datetime
) -> bool:
    """Keep a partner's settlement word about one payment (no transfer named); return whether it changed anything.

    A word that does not speak of settlement, or one behind what is already known, changes nothing.
    """
    state = STATUS_WORDS.get((status_word or "").strip().upper())
    if state is None or _RANK[state] <= _RANK[payment.settlement_state]:
        return False
    before = payment.settlement_state
    payment.settlement_state = state
    note_payment_event(
        session=session,
        payment=payment,
        kind=f"settlement_{state.value}",
        source=source,
        detail={"partner_status": status_word, "previous": before.value if before else None},
        now=now,
    )
    return True


def _mark_settled(session: Session, payment: Payment, line: SettlementLine, source: str, now: dt.datetime) -> bool:
    if (payment.settlement_state, payment.settlement_ref, payment.settled_on) == (
        SettlementState.SETTLED,
        line.settlement_ref,
        line.settled_on,
    ):
        return False
    payment.settlement_state = SettlementState.SETTLED
    payment.settlement_ref = line.settlement_ref
    payment.settled_on = line.settled_on
    detail = {"partner": line.partner, "utr": line.settlement_ref, "settled_on": line.settled_on.isoformat()}
    note_payment_event(session=session, payment=payment, kind="settled", source=source, detail=detail, now=now)
    return True


def _payments_by_ref(session: Session, partner: str, refs: list[str]) -> dict[str, Payment]:
    """Our payments a partner's references name: by partner_txn_ref first, else customer_txn_ref."""
    if not refs:
        return {}
    query = sa.select(Payment).where(sa.or_(Payment.partner_txn_ref.in_(refs), Payment.customer_txn_ref.in_(refs)))
    if partner in {channel.value for channel in Channel}:
        query = query.where(Payment.channel == Channel(partner))
    found: dict[str, Payment] = {}
    for payment in session.scalars(query.with_for_update()):
        if payment.customer_txn_ref in refs:
            found.setdefault(payment.customer_txn_ref, payment)
        if payment.partner_txn_ref in refs:
            found[payment.partner_txn_ref] = payment
    return found
