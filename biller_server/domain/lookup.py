"""Find anything by any reference a customer, a partner or a colleague may give: "did this payment reach us?".

A reference is looked for, exactly, among customers (the lender's customer id, a mobile number, any identifier),
bills (partnerBillId, loan account number, a partner's own bill id such as Kaleidofin's systemBillId), payments
(the partner's transaction id or refId, a second reference such as Digiledge's txnReferenceId, a receipt number,
the UTR of the transfer that settled it), settlement lines and bank entries (by UTR), partner payment
notifications (refId, msgId) and the log of partner calls (the reference recorded with a call, at any date, and,
when the books carry nothing with it, any text in a call's body within a window of days: a call we refused is
found too). Every look-up but the body search is an equality on an indexed column (issue 20).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from biller_server.persistence.models import (
    BankEntry,
    Bill,
    ChannelBillReference,
    Customer,
    CustomerIdentifier,
    InboundMessage,
    Payment,
    PaymentNotification,
    Receipt,
    SettlementItem,
    SettlementLine,
)

MAX_REFERENCE_LENGTH = 100
_MOBILE = re.compile(r"(?:\+?91|0)?([6-9][0-9]{9})")


@dataclass(frozen=True)
class Findings:
    reference: str
    since: dt.datetime  # from when call bodies were searched
    customers: list[Customer] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    notifications: list[PaymentNotification] = field(default_factory=list)
    inbound_messages: list[InboundMessage] = field(default_factory=list)
    settlement_lines: list[SettlementLine] = field(default_factory=list)  # by UTR
    bank_entries: list[BankEntry] = field(default_factory=list)  # by UTR
    # Call bodies are read only when nothing in the books carries the reference (calls recorded with it always).
    bodies_searched: bool = True

    @property
    def found_nothing(self) -> bool:
        return not (
            self.customers
            or self.bills
            or self.payments
            or self.notifications
            or self.inbound_messages
            or self.settlement_lines
            or self.bank_entries
        )


def reference_variants(reference: str) -> list[str]:
    """The reference as typed, and a mobile number written with +91, 0 or spaces as its ten digits."""
    reference = reference.strip()
    variants = [reference]
    mobile = _MOBILE.fullmatch(re.sub(r"[\s-]", "", reference))
    if mobile and mobile.group(1) != reference:
        variants.append(mobile.group(1))
    return variants


def find_reference(
    *, session: Session, reference: str, since: dt.datetime, limit: int = 50, inbound_limit: int = 50
) -> Findings:
    """Everything in the books that carries ``reference``, newest first within each kind.

    Each kind of reference is its own equality look-up on an index of that column (one ``UNION`` per kind of
    row, never an ``OR``, which would scan every customer and every bill). Partner calls' bodies are read only when
    nothing in the books carries the reference: reading them is the one part that scans (every call in the window).
    """
    variants = reference_variants(reference[:MAX_REFERENCE_LENGTH])
    if not variants[0]:
        return Findings(reference="", since=since)
    customer_ids = _ids(
        session,
        sa.select(Customer.id).where(Customer.lender_customer_id.in_(variants)),
        sa.select(Customer.id).where(Customer.mobile.in_(variants)),
        sa.select(CustomerIdentifier.customer_id).where(CustomerIdentifier.value.in_(variants)),
    )
    customers = _rows(session, sa.select(Customer), Customer.id, customer_ids, [Customer.id.desc()], limit)
    bill_ids = _ids(
        session,
        sa.select(Bill.id).where(Bill.partner_bill_id.in_(variants)),
        sa.select(Bill.id).where(Bill.loan_account_number.in_(variants)),
        sa.select(ChannelBillReference.bill_id).where(ChannelBillReference.partner_bill_ref.in_(variants)),
        sa.select(Bill.id).where(Bill.customer_id.in_([customer.id for customer in customers])) if customers else None,
    )
    bills = _rows(
        session,
        sa.select(Bill).options(joinedload(Bill.customer)),
        Bill.id,
        bill_ids,
        [Bill.due_date.desc(), Bill.id.desc()],
        limit,
    )
    settlement_lines = list(
        session.scalars(
            sa.select(SettlementLine)
            .where(SettlementLine.settlement_ref.in_(variants))
            .order_by(SettlementLine.settled_on.desc(), SettlementLine.id.desc())
            .limit(limit)
        )
    )
    payment_ids = _ids(
        session,
        sa.select(Payment.id).where(Payment.partner_txn_ref.in_(variants)),
        sa.select(Payment.id).where(Payment.customer_txn_ref.in_(variants)),
        sa.select(Receipt.payment_id).where(Receipt.receipt_number.in_(variants)),
        sa.select(Payment.id).where(Payment.settlement_ref.in_(variants)),
        sa.select(SettlementItem.payment_id).where(
            SettlementItem.line_id.in_([line.id for line in settlement_lines]), SettlementItem.payment_id.is_not(None)
        )
        if settlement_lines
        else None,
        sa.select(Payment.id).where(Payment.bill_id.in_([bill.id for bill in bills])) if bills else None,
    )
    payments = _rows(
        session,
        sa.select(Payment).options(joinedload(Payment.bill), joinedload(Payment.receipt)),
        Payment.id,
        payment_ids,
        [Payment.paid_at.desc(), Payment.id.desc()],
        limit,
    )
    notification_ids = _ids(
        session,
        sa.select(PaymentNotification.id).where(PaymentNotification.ref_id.in_(variants)),
        sa.select(PaymentNotification.id).where(PaymentNotification.msg_id.in_(variants)),
    )
    notifications = _rows(
        session,
        sa.select(PaymentNotification),
        PaymentNotification.id,
        notification_ids,
        [PaymentNotification.id.desc()],
        limit,
    )
    bank_entries = list(
        session.scalars(
            sa.select(BankEntry)
            .where(BankEntry.utr.in_(variants))
            .order_by(BankEntry.value_date.desc(), BankEntry.id.desc())
            .limit(limit)
        )
    )
    in_books = bool(customers or bills or payments or notifications or settlement_lines or bank_entries)
    messages = find_inbound_messages(
        session=session, reference=variants[0], since=since, limit=inbound_limit, search_bodies=not in_books
    )
    return Findings(
        reference=variants[0],
        since=since,
        customers=customers,
        bills=bills,
        payments=payments,
        notifications=notifications,
        inbound_messages=messages,
        settlement_lines=settlement_lines,
        bank_entries=bank_entries,
        bodies_searched=not in_books,
    )


def _ids(session: Session, *lookups: sa.Select[tuple[int]] | None) -> list[int]:
    """The ids the look-ups find, each look-up an indexed equality, joined by ``UNION`` in one statement."""
    selects = [lookup for lookup in lookups if lookup is not None]
    return list(session.scalars(sa.union(*selects))) if len(selects) > 1 else list(session.scalars(selects[0]))


def _rows(
    session: Session, select: sa.Select, key: sa.ColumnElement[int], ids: list[int], order: list, limit: int
) -> list:
    """The rows with those ids, in the order given, at most ``limit``."""
    if not ids:
        return []
    return list(session.scalars(select.where(key.in_(ids)).order_by(*order).limit(limit)).unique())


def find_inbound_messages(
    *,
    session: Session,
    reference: str | None,
    since: dt.datetime,
    channel: str | None = None,
    limit: int = 50,
    search_bodies: bool = True,
) -> list[InboundMessage]:
    """Partner calls, newest first: those whose recorded reference is ``reference`` (at any date) and, with
    ``search_bodies``, those whose body holds it (received since ``since``); without a reference, every call since
    ``since``."""
    window = sa.select(InboundMessage.id).where(InboundMessage.received_at >= since)
    if channel:
        window = window.where(InboundMessage.channel == channel.lower())
    if not reference:
        ids = list(session.scalars(window.order_by(InboundMessage.id.desc()).limit(limit)))
        return _messages(session, ids)

    recorded = sa.select(InboundMessage.id).where(InboundMessage.partner_ref == reference)
    if channel:
        recorded = recorded.where(InboundMessage.channel == channel.lower())
    found = set(session.scalars(recorded.order_by(InboundMessage.id.desc()).limit(limit)))
    if not search_bodies:
        return _messages(session, sorted(found, reverse=True))
    # The database reads the bodies (a byte-wise search, no index can serve "anywhere in the body"); only the ids
    # of the calls holding the reference come back, newest first.
    holding = sa.select(InboundMessage.id).where(
        InboundMessage.received_at >= since, _body_holds(session, reference.encode("utf-8"))
    )
    if channel:
        holding = holding.where(InboundMessage.channel == channel.lower())
    found.update(session.scalars(holding.order_by(InboundMessage.id.desc()).limit(limit)))
    return _messages(session, sorted(found, reverse=True)[:limit])


def _body_holds(session: Session, needle: bytes) -> sa.ColumnElement[bool]:
    """A call's body holds ``needle``, byte for byte: ``LIKE`` on PostgreSQL's bytea (its escape character, the
    backslash, and the needle's own ``%`` and ``_`` escaped), ``instr`` on SQLite's blobs (its ``LIKE`` would read a
    blob as text: case-blind, and stopping at a NUL byte)."""
    if session.get_bind().dialect.name == "sqlite":
        return sa.func.instr(InboundMessage.body, needle) > 0
    escaped = needle.replace(b"\\", b"\\\\").replace(b"%", b"\\%").replace(b"_", b"\\_")
    return InboundMessage.body.op("LIKE", is_comparison=True)(b"%" + escaped + b"%")


def _messages(session: Session, ids: list[int]) -> list[InboundMessage]:
    if not ids:
        return []
    return list(
        session.scalars(sa.select(InboundMessage).where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id.desc()))
    )


def message_body_text(body: bytes | None) -> str:
    """A logged body for people to read: JSON indented, other UTF-8 text as it is, anything else described."""
    if not body:
        return "(empty)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(body)} bytes, not UTF-8) {body[:200]!r}"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
