"""Receipts: one per recorded payment, with a number that is unique for the biller's lifetime."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from biller_server.persistence.models import Payment, Receipt


def receipt_number_for(payment_id: int) -> str:
    # Derived from the payment's primary key, so it is unique without a counter to contend on.
    return f"R{payment_id:010d}"


def issue_receipt(*, session: Session, payment: Payment, now: dt.datetime) -> Receipt:
    receipt = Receipt(payment=payment, receipt_number=receipt_number_for(payment.id), issued_at=now)
    session.add(receipt)
    return receipt
