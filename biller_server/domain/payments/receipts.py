"""Receipts: one per recorded payment, with a number that is unique for the biller's lifetime."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from biller_server.persistence.models import Payment, Receipt


def receipt_number_for(payment_id: int) -> str:
    # Derived from the payment's primary key, so it is unique without a counter to contend on.
    return f"R{payment_id:010d}"


def issue_receipt(*, session: Session, payment: Payment, now: dt.datetime) -> Receipt:
    """The receipt of a payment recorded in this transaction (so it has none yet)."""
    receipt = Receipt(payment_id=payment.id, receipt_number=receipt_number_for(payment.id), issued_at=now)
    # Link both sides without history: assigning ``receipt.payment`` would make the ORM load the payment's
    # previous receipt (a SELECT) to unlink it, and a payment recorded a moment ago has none.
    set_committed_value(receipt, "payment", payment)
    set_committed_value(payment, "receipt", receipt)
    session.add(receipt)
    return receipt
