"""Events for the lender: a payment reached a final state (CONFIRMED, FAILED, UNRESOLVED).

``payments.outcomes`` calls ``announce_final_state`` in the same transaction as the state change, so the event is
queued exactly when the change commits (and never when it rolls back); the delivery queue then sends it at least
once to the lender's webhook (biller_server/clients/webhook.py).

Whether events are wanted is a plain value set once per process by the application factory
(``configure_payment_events``), not an argument: the state changes are made from the confirmation engine and from
push notifications, and neither needs to know about webhooks. Unconfigured (the default) nothing is queued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from biller_server.domain.deliveries import enqueue_delivery
from biller_server.domain.money import rupees_text
from biller_server.persistence.models import JobKind, Payment, PaymentStatus

FINAL_STATES = (PaymentStatus.CONFIRMED, PaymentStatus.FAILED, PaymentStatus.UNRESOLVED)
EVENT_VERSION = 1


@dataclass(frozen=True)
class PaymentEvents:
    """Where final states are announced: the delivery queue's receiver (``Job.partner``) that sends them."""

    receiver: str = "webhook"


_configured: PaymentEvents | None = None


def configure_payment_events(events: PaymentEvents | None) -> None:
    """Turn the events on (or off, with None) for this process."""
    global _configured
    _configured = events


def configured_payment_events() -> PaymentEvents | None:
    return _configured


def event_id(payment_id: int, status: PaymentStatus) -> str:
    """The event's id, the same on every delivery of it: receivers drop repeats by it."""
    return f"webhook:{payment_id}:{status.value}"


def announce_final_state(*, session: Session, payment: Payment, previous: PaymentStatus, now: dt.datetime) -> None:
    """Queue the event for a payment that has just reached a final state, if events are configured."""
    events = _configured
    if events is None or payment.status not in FINAL_STATES:
        return
    operation = f"payment.{payment.status.value.lower()}"
    enqueue_delivery(
        session=session,
        kind=JobKind.DELIVER_WEBHOOK,
        receiver=events.receiver,
        operation=operation,
        body=event_body(payment, previous=previous, operation=operation, now=now),
        now=now,
        dedupe_key=event_id(payment.id, payment.status),
        payment_id=payment.id,
    )


def event_body(payment: Payment, *, previous: PaymentStatus, operation: str, now: dt.datetime) -> dict[str, Any]:
    """The event as the lender receives it: everything its loan system needs to post the payment, amounts exact."""
    bill = payment.bill
    receipt = payment.receipt
    return {
        "id": event_id(payment.id, payment.status),
        "type": operation,
        "version": EVENT_VERSION,
        "occurred_at": now.astimezone(dt.UTC).isoformat(),
        "payment": {
            "id": payment.id,
            "status": payment.status.value,
            "previous_status": previous.value,
            "status_reason": payment.status_reason,
            "channel": payment.channel.value,
            "partner_txn_ref": payment.partner_txn_ref,
            "customer_txn_ref": payment.customer_txn_ref,
            "partner_bill_ref": payment.partner_bill_ref,
            # Rupees as text with two decimals, never a float; paise as an integer.
            "amount": rupees_text(payment.amount_paise),
            "amount_paise": payment.amount_paise,
            "paid_at": payment.paid_at.isoformat(),
            "applied_to_bill": payment.applied_to_bill,
            "receipt_number": receipt.receipt_number if receipt is not None else None,
        },
        "bill": {
            "partner_bill_id": bill.partner_bill_id,
            "loan_account_number": bill.loan_account_number,
            "lender_customer_id": bill.customer.lender_customer_id,
            "status": bill.status.value,
            "amount": rupees_text(bill.amount_paise),
            "paid": rupees_text(bill.paid_paise),
        },
    }
