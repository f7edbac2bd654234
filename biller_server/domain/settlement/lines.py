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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.payments.outcomes import note_payment_event
from biller_server.persistence.chunks import in_chunks
from biller_server.persistence.models import (
    Channel,
    Payment,
    PaymentEvent,
    PaymentStatus,
    SettlementItem,
    SettlementLine,
    SettlementState,
)
from biller_server.persistence.rows import hold_committed
from biller_server.persistence.types import utcnow

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


@dataclass(frozen=True)
class PartnerSettlement:
    """One transfer as a source reports it, in plain values (``record_partner_settlement`` says what each means)."""

    settlement_ref: str
    settled_on: dt.date
    amount_paise: int
    payment_refs: Sequence[str] | Mapping[str, int | None]


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
    settlement = PartnerSettlement(settlement_ref, settled_on, amount_paise, payment_refs)
    return record_partner_settlements(
        session=session, partner=partner, settlements=[settlement], source=source, now=now
    )[0]


def record_partner_settlements(
    *, session: Session, partner: str, settlements: Sequence[PartnerSettlement], source: str, now: dt.datetime
) -> list[RecordedSettlement]:
    """Record a partner's transfers (a report file's lines) at once: what ``record_partner_settlement`` does for
    each in turn, in a few statements per 500 lines and payments instead of several per line and per payment.

    Every transfer is checked before anything is written. The lines and the payments they name are locked (payments
    in id order), then the items, the payments' settlement state and their ``settled`` events are written in bulk.
    """
    wanted: list[tuple[str, PartnerSettlement, dict[str, int | None]]] = []
    for settlement in settlements:
        reference = settlement.settlement_ref.strip()
        if not reference:
            raise SettlementRefused("a settlement line needs its reference (the UTR)")
        if settlement.amount_paise < 0:
            raise SettlementRefused(f"settlement {reference}: the amount is negative")
        refs = settlement.payment_refs
        amounts = dict(refs) if isinstance(refs, Mapping) else dict.fromkeys(refs)
        wanted.append((reference, settlement, amounts))
    session.flush()  # what this transaction changed before (a payment just confirmed) is what is read below

    # The lines, one per reference: found (locked) or made; a corrected amount or date replaces the old one.
    lines = _lock_lines(session, partner, [reference for reference, _, _ in wanted])
    made: list[tuple[bool, bool]] = []  # (created, changed) per settlement
    for reference, settlement, _ in wanted:
        line = lines.get(reference)
        if line is None:
            line = SettlementLine(
                partner=partner[:24],
                settlement_ref=reference[:100],
                settled_on=settlement.settled_on,
                amount_paise=settlement.amount_paise,
                source=source[:100],
                created_at=now,
                updated_at=now,
            )
            session.add(line)
            lines[reference] = line
            made.append((True, True))
        elif (line.settled_on, line.amount_paise) != (settlement.settled_on, settlement.amount_paise):
            line.settled_on, line.amount_paise, line.source = (
                settlement.settled_on,
                settlement.amount_paise,
                source[:100],
            )
            line.updated_at = now
            made.append((False, True))
        else:
            made.append((False, False))
    session.flush()  # the new lines' ids

    known = _items_of(session, [line.id for line in lines.values()])
    payments = _payments_by_ref(session, partner, [ref for _, _, amounts in wanted for ref in amounts])
    new_items: list[dict[str, Any]] = []
    changed_items: dict[int, dict[str, Any]] = {}
    settled: dict[int, _PaymentRow] = {}
    events: list[dict[str, Any]] = []
    results = []
    for (reference, _, amounts), (created, changed) in zip(wanted, made, strict=True):
        line = lines[reference]
        items = known.setdefault(line.id, {})
        for ref, amount in amounts.items():
            payment = payments.get(ref)
            item = items.get(ref)
            if item is None:
                item = {"line_id": line.id, "payment_ref": ref[:100], "amount_paise": amount, "payment_id": None}
                new_items.append(item)
                items[ref] = item
                changed = True
            elif amount is not None and item["amount_paise"] != amount:
                item["amount_paise"] = amount
                changed_items[item["id"]] = item
                changed = True
            if payment is not None and item["payment_id"] != payment.id:
                item["payment_id"] = payment.id
                if "id" in item:
                    changed_items[item["id"]] = item
                changed = True
            if payment is not None and _mark_settled(payment, line):
                settled[payment.id] = payment
                events.append(_settled_event(payment, line, source, now))
                changed = True
        results.append(
            RecordedSettlement(
                line_id=line.id,
                created=created,
                changed=changed,
                payment_ids=sorted(payments[ref].id for ref in amounts if ref in payments),
                unknown_refs=sorted(ref for ref in amounts if ref not in payments),
            )
        )
    _write(session, new_items, list(changed_items.values()), list(settled.values()), events, now)
    for line in lines.values():
        session.expire(line, ["items"])  # written around the ORM: read afresh when asked for
    return results


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


@dataclass
class _PaymentRow:
    """What settling a payment reads and changes, without loading the payment as an object."""

    id: int
    partner_txn_ref: str
    customer_txn_ref: str | None
    status: PaymentStatus
    settlement_state: SettlementState | None
    settlement_ref: str | None
    settled_on: dt.date | None


def _mark_settled(payment: _PaymentRow, line: SettlementLine) -> bool:
    if (payment.settlement_state, payment.settlement_ref, payment.settled_on) == (
        SettlementState.SETTLED,
        line.settlement_ref,
        line.settled_on,
    ):
        return False
    payment.settlement_state = SettlementState.SETTLED
    payment.settlement_ref = line.settlement_ref
    payment.settled_on = line.settled_on
    return True


def _settled_event(payment: _PaymentRow, line: SettlementLine, source: str, now: dt.datetime) -> dict[str, Any]:
    """The ``settled`` event ``note_payment_event`` would add, as a row."""
    return {
        "payment_id": payment.id,
        "occurred_at": now,
        "kind": "settled",
        "from_status": payment.status.value,
        "to_status": payment.status.value,
        "source": source[:40],
        "detail": {"partner": line.partner, "utr": line.settlement_ref, "settled_on": line.settled_on.isoformat()},
    }


def _lock_lines(session: Session, partner: str, references: list[str]) -> dict[str, SettlementLine]:
    found: dict[str, SettlementLine] = {}
    wanted = list(dict.fromkeys(references))
    for chunk in in_chunks(wanted):
        query = (
            sa.select(SettlementLine)
            .where(SettlementLine.partner == partner, SettlementLine.settlement_ref.in_(chunk))
            .order_by(SettlementLine.id)
            .with_for_update()
        )
        for line in session.scalars(query):
            found[line.settlement_ref] = line
    return found


def _items_of(session: Session, line_ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """The lines' items as rows: line id -> payment reference -> item."""
    found: dict[int, dict[str, dict[str, Any]]] = {}
    table = SettlementItem.__table__
    for chunk in in_chunks(line_ids):
        query = sa.select(table.c.id, table.c.line_id, table.c.payment_ref, table.c.payment_id, table.c.amount_paise)
        for row in session.execute(query.where(table.c.line_id.in_(chunk)).order_by(table.c.id)).mappings():
            found.setdefault(row["line_id"], {})[row["payment_ref"]] = dict(row)
    return found


def _payments_by_ref(session: Session, partner: str, refs: list[str]) -> dict[str, _PaymentRow]:
    """Our payments a partner's references name (locked, in id order): by partner_txn_ref first, else
    customer_txn_ref."""
    wanted = list(dict.fromkeys(refs))
    rows: dict[int, _PaymentRow] = {}
    for chunk in in_chunks(wanted):
        query = sa.select(
            Payment.id,
            Payment.partner_txn_ref,
            Payment.customer_txn_ref,
            Payment.status,
            Payment.settlement_state,
            Payment.settlement_ref,
            Payment.settled_on,
        ).where(sa.or_(Payment.partner_txn_ref.in_(chunk), Payment.customer_txn_ref.in_(chunk)))
        if partner in {channel.value for channel in Channel}:
            query = query.where(Payment.channel == Channel(partner))
        for row in session.execute(query.order_by(Payment.id).with_for_update()):
            rows.setdefault(row.id, _PaymentRow(*row))
    looked_for = set(wanted)
    found: dict[str, _PaymentRow] = {}
    for payment in sorted(rows.values(), key=lambda payment: payment.id):
        if payment.customer_txn_ref in looked_for:
            found.setdefault(payment.customer_txn_ref, payment)
        if payment.partner_txn_ref in looked_for:
            found[payment.partner_txn_ref] = payment
    return found


def _write(
    session: Session,
    new_items: list[dict[str, Any]],
    changed_items: list[dict[str, Any]],
    settled: list[_PaymentRow],
    events: list[dict[str, Any]],
    now: dt.datetime,
) -> None:
    """The items, the payments' settlement state and their events, a statement per batch of rows."""
    items = SettlementItem.__table__
    for chunk in in_chunks(new_items):
        session.execute(items.insert(), chunk)
    if changed_items:
        session.execute(
            items.update()
            .where(items.c.id == sa.bindparam("item_id"))
            .values(amount_paise=sa.bindparam("new_amount"), payment_id=sa.bindparam("new_payment")),
            [
                {"item_id": item["id"], "new_amount": item["amount_paise"], "new_payment": item["payment_id"]}
                for item in changed_items
            ],
        )
    # A settlement names many payments with one UTR and day: one UPDATE per (UTR, day) and batch of ids.
    by_line: dict[tuple[str | None, dt.date | None], list[int]] = {}
    for payment in settled:
        by_line.setdefault((payment.settlement_ref, payment.settled_on), []).append(payment.id)
    updated_at = utcnow()  # what the ORM's onupdate writes
    payments = Payment.__table__
    for (reference, day), ids in by_line.items():
        for chunk in in_chunks(ids):
            session.execute(
                payments.update()
                .where(payments.c.id.in_(chunk))
                .values(
                    settlement_state=SettlementState.SETTLED,
                    settlement_ref=reference,
                    settled_on=day,
                    updated_at=updated_at,
                )
            )
    for payment in settled:
        # A payment this session holds as an object: keep it true to the row (and its events read afresh).
        loaded = session.identity_map.get(session.identity_key(Payment, payment.id))
        if loaded is not None:
            hold_committed(
                loaded,
                {
                    "settlement_state": SettlementState.SETTLED,
                    "settlement_ref": payment.settlement_ref,
                    "settled_on": payment.settled_on,
                    "updated_at": updated_at,
                },
            )
            session.expire(loaded, ["events"])
    events_table = PaymentEvent.__table__
    for chunk in in_chunks(events):
        session.execute(events_table.insert(), chunk)
