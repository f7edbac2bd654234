"""Find anything by any reference a customer, a partner or a colleague may give: "did this payment reach us?".

A reference is looked for, exactly, among customers (the lender's customer id, a mobile number, any identifier),
bills (partnerBillId, loan account number, a partner's own bill id such as Kaleidofin's systemBillId), payments
(the partner's transaction id or refId, a second reference such as Digiledge's txnReferenceId, a receipt number,
the UTR of the transfer that settled it), settlement lines and bank entries (by UTR), partner payment
notifications (refId, msgId) and the log of partner calls (the reference recorded with a call, at any date, or any
text in a call's body within a window of days: a call we refused is found too).
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

# Messages whose bodies are read at once while searching them: the window may hold many, and bodies are large.
INBOUND_PAGE = 500
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
    """Everything in the books that carries ``reference``, newest first within each kind."""
    variants = reference_variants(reference[:MAX_REFERENCE_LENGTH])
    if not variants[0]:
        return Findings(reference="", since=since)
    identified = sa.select(CustomerIdentifier.customer_id).where(CustomerIdentifier.value.in_(variants))
    customers = list(
        session.scalars(
            sa.select(Customer)
            .where(
                sa.or_(
                    Customer.lender_customer_id.in_(variants),
                    Customer.mobile.in_(variants),
                    Customer.id.in_(identified),
                )
            )
            .order_by(Customer.id.desc())
            .limit(limit)
        )
    )
    referenced_bills = sa.select(ChannelBillReference.bill_id).where(
        ChannelBillReference.partner_bill_ref.in_(variants)
    )
    bills = list(
        session.scalars(
            sa.select(Bill)
            .options(joinedload(Bill.customer))
            .where(
                sa.or_(
                    Bill.partner_bill_id.in_(variants),
                    Bill.loan_account_number.in_(variants),
                    Bill.id.in_(referenced_bills),
                    Bill.customer_id.in_([customer.id for customer in customers]),
                )
            )
            .order_by(Bill.due_date.desc(), Bill.id.desc())
            .limit(limit)
        )
    )
    receipted = sa.select(Receipt.payment_id).where(Receipt.receipt_number.in_(variants))
    settlement_lines = list(
        session.scalars(
            sa.select(SettlementLine)
            .where(SettlementLine.settlement_ref.in_(variants))
            .order_by(SettlementLine.settled_on.desc(), SettlementLine.id.desc())
            .limit(limit)
        )
    )
    settled = sa.select(SettlementItem.payment_id).where(
        SettlementItem.line_id.in_([line.id for line in settlement_lines]), SettlementItem.payment_id.is_not(None)
    )
    payments = list(
        session.scalars(
            sa.select(Payment)
            .options(joinedload(Payment.bill), joinedload(Payment.receipt))
            .where(
                sa.or_(
                    Payment.partner_txn_ref.in_(variants),
                    Payment.customer_txn_ref.in_(variants),
                    Payment.id.in_(receipted),
                    Payment.settlement_ref.in_(variants),
                    Payment.id.in_(settled),
                    Payment.bill_id.in_([bill.id for bill in bills]),
                )
            )
            .order_by(Payment.paid_at.desc(), Payment.id.desc())
            .limit(limit)
        )
    )
    notifications = list(
        session.scalars(
            sa.select(PaymentNotification)
            .where(sa.or_(PaymentNotification.ref_id.in_(variants), PaymentNotification.msg_id.in_(variants)))
            .order_by(PaymentNotification.id.desc())
            .limit(limit)
        )
    )
    bank_entries = list(
        session.scalars(
            sa.select(BankEntry)
            .where(BankEntry.utr.in_(variants))
            .order_by(BankEntry.value_date.desc(), BankEntry.id.desc())
            .limit(limit)
        )
    )
    messages = find_inbound_messages(session=session, reference=variants[0], since=since, limit=inbound_limit)
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
    )


def find_inbound_messages(
    *, session: Session, reference: str | None, since: dt.datetime, channel: str | None = None, limit: int = 50
) -> list[InboundMessage]:
    """Partner calls, newest first: those whose recorded reference is ``reference`` (at any date) and those whose
    body holds it (received since ``since``); without a reference, every call since ``since``."""
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
    needle = reference.encode("utf-8")
    before_id: int | None = None
    # Newest first, a page of bodies at a time, read as plain rows: a wide window never holds every body at once.
    while True:
        page = (
            sa.select(InboundMessage.id, InboundMessage.body)
            .where(InboundMessage.received_at >= since)
            .order_by(InboundMessage.id.desc())
            .limit(INBOUND_PAGE)
        )
        if channel:
            page = page.where(InboundMessage.channel == channel.lower())
        if before_id is not None:
            page = page.where(InboundMessage.id < before_id)
        rows = session.execute(page).all()
        found.update(message_id for message_id, body in rows if needle in (body or b""))
        if len(rows) < INBOUND_PAGE or len(found) >= limit:
            break
        before_id = rows[-1][0]
    return _messages(session, sorted(found, reverse=True)[:limit])


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
