"""Receipts: one per recorded payment, with a number that is unique for the biller's lifetime."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from biller_server.persistence.models import Payment, Receipt
from biller_server.persistence.rows import as_persistent


def receipt_number_for(payment_id: int) -> str:
    # Derived from the payment's primary key, so it is unique without a counter to contend on.
    return f"R{payment_id:010d}"


def receipt_row(*, payment_id: int, now: dt.datetime) -> dict[str, Any]:
    """The receipt of a payment recorded in this transaction (so it has none yet), as the row to write."""
    return {"payment_id": payment_id, "receipt_number": receipt_number_for(payment_id), "issued_at": now}


def receipt_issued(*, session: Session, payment: Payment, receipt_id: int, values: dict[str, Any]) -> Receipt:
    """The session's Receipt for the row ``receipt_row`` gave, written by the caller (``record_payment``, with the
    payment's other rows)."""
    receipt = as_persistent(session, Receipt, {"id": receipt_id, **values})
    # Link both sides without history: assigning ``receipt.payment`` would make the ORM load the payment's
    # previous receipt (a SELECT) to unlink it, and a payment recorded a moment ago has none.
    set_committed_value(receipt, "payment", payment)
    set_committed_value(payment, "receipt", receipt)
    return receipt
