"""Receipts: one per recorded payment, with a number that is unique for the biller's lifetime."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from biller_server.persistence.models import Payment, Receipt
from biller_server.persistence.rows import as_persistent


def receipt_number_for(payment_id: int) -> str:
    # Derived from the payment's primary key, so it is unique without a counter to contend on.
    return f"R{payment_id:010d}"


def issue_receipt(*, session: Session, payment: Payment, now: dt.datetime) -> Receipt:
    """The receipt of a payment recorded in this transaction (so it has none yet), written at once."""
    values = {"payment_id": payment.id, "receipt_number": receipt_number_for(payment.id), "issued_at": now}
    # One Core INSERT built once, instead of an object left for a unit-of-work flush: the receipt is on every
    # payment's path. The caller still gets the session's Receipt.
    receipt_id = session.connection().execute(_INSERT_RECEIPT, values).scalar_one()
    receipt = as_persistent(session, Receipt, {"id": receipt_id, **values})
    # Link both sides without history: assigning ``receipt.payment`` would make the ORM load the payment's
    # previous receipt (a SELECT) to unlink it, and a payment recorded a moment ago has none.
    set_committed_value(receipt, "payment", payment)
    set_committed_value(payment, "receipt", receipt)
    return receipt


_INSERT_RECEIPT = sa.insert(Receipt.__table__).returning(Receipt.__table__.c.id)
