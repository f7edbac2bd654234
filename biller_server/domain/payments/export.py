"""Payments for the lender's loan management system: one row per payment, streamed page by page.

Rows come in ``(paid_at, id)`` order, read in pages of ``page_size`` with a short transaction each (keyset
pagination: each page starts after the last row of the one before). Memory stays flat whatever the range, and no
transaction stays open while the file is written, so the export never holds up the API (on SQLite every
transaction takes the write lock). A payment's ``paid_at`` never changes, so no row is skipped or repeated; each
row shows the payment as it was when its page was read.

Text that came from outside (partners' references and reasons, the lender's names and ids) is guarded against
spreadsheet formulas (CSV injection): a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading ``'``, so a spreadsheet shows it as text and never evaluates it. The amounts, dates, ids and
status words are ours and left as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.india import IST
from biller_server.domain.money import rupees_text
from biller_server.persistence.models import Bill, Customer, Payment, PaymentEvent, Receipt

COLUMNS = (
    "payment_id",
    "paid_at",  # UTC, ISO 8601
    "paid_on_ist",  # the payment's calendar date in India
    "channel",
    "partner_txn_ref",
    "customer_txn_ref",
    "partner_bill_ref",
    "partner_bill_id",
    "loan_account_number",
    "lender_customer_id",
    "customer_name",
    "bill_amount",
    "amount",
    "status",
    "status_at",  # when the payment took its current status
    "status_reason",
    "applied_to_bill",
    "flagged",
    "flag_reason",
    "receipt_number",
    "receipt_issued_at",
)


def export_rows(
    *, sessions: Callable[[], Session], starts_at: dt.datetime, ends_at: dt.datetime, page_size: int = 1000
) -> Iterator[tuple[str, ...]]:
    """Every payment with ``starts_at <= paid_at < ends_at``, as text cells in ``COLUMNS`` order."""
    status_at = (
        sa.select(sa.func.max(PaymentEvent.occurred_at))
        .where(PaymentEvent.payment_id == Payment.id, PaymentEvent.to_status == Payment.status)
        .where(PaymentEvent.kind != "outcome_contradicted")
        .correlate(Payment)
        .scalar_subquery()
    )
    query = (
        sa.select(
            Payment.id,
            Payment.paid_at,
            Payment.channel,
            Payment.partner_txn_ref,
            Payment.customer_txn_ref,
            Payment.partner_bill_ref,
            Bill.partner_bill_id,
            Bill.loan_account_number,
            Customer.lender_customer_id,
            Customer.name,
            Bill.amount_paise,
            Payment.amount_paise,
            Payment.status,
            sa.type_coerce(status_at, PaymentEvent.occurred_at.type).label("status_at"),
            Payment.status_reason,
            Payment.applied_to_bill,
            Payment.flagged,
            Payment.flag_reason,
            Receipt.receipt_number,
            Receipt.issued_at,
        )
        .join(Bill, Bill.id == Payment.bill_id)
        .join(Customer, Customer.id == Bill.customer_id)
        .outerjoin(Receipt, Receipt.payment_id == Payment.id)
        .where(Payment.paid_at >= starts_at, Payment.paid_at < ends_at)
        .order_by(Payment.paid_at, Payment.id)
        .limit(page_size)
    )
    after: tuple[dt.datetime, int] | None = None
    while True:
        page = query
        if after is not None:
            paid_at, payment_id = after
            page = page.where(
                sa.or_(Payment.paid_at > paid_at, sa.and_(Payment.paid_at == paid_at, Payment.id > payment_id))
            )
        with sessions() as session:
            rows = session.execute(page).all()
        for row in rows:
            yield _cells(row)
        if len(rows) < page_size:
            return
        after = (rows[-1].paid_at, rows[-1].id)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it but never runs it: a leading ``'`` before a formula's first character."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cells(row: Any) -> tuple[str, ...]:
    (
        payment_id,
        paid_at,
        channel,
        partner_txn_ref,
        customer_txn_ref,
        partner_bill_ref,
        partner_bill_id,
        loan_account_number,
        lender_customer_id,
        customer_name,
        bill_amount,
        amount,
        status,
        status_at,
        status_reason,
        applied,
        flagged,
        flag_reason,
        receipt_number,
        receipt_issued_at,
    ) = row
    text = spreadsheet_safe  # every cell whose text came from a partner or the lender
    return (
        str(payment_id),
        paid_at.isoformat(),
        paid_at.astimezone(IST).date().isoformat(),
        channel.value,
        text(partner_txn_ref),
        text(customer_txn_ref or ""),
        text(partner_bill_ref or ""),
        text(partner_bill_id),
        text(loan_account_number or ""),
        text(lender_customer_id),
        text(customer_name),
        rupees_text(bill_amount),
        rupees_text(amount),
        status.value,
        status_at.isoformat() if status_at is not None else "",
        text(status_reason or ""),
        "yes" if applied else "no",
        "yes" if flagged else "no",
        text(flag_reason or ""),
        text(receipt_number or ""),
        receipt_issued_at.isoformat() if receipt_issued_at is not None else "",
    )
