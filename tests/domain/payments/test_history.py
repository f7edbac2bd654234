"""A payment's whole history, as the console's payment page reads it."""

import datetime as dt

from biller_server.domain.payments.history import payment_history
from biller_server.persistence.models import (
    Channel,
    InboundMessage,
    Job,
    JobKind,
    OutboundCall,
    PaymentEvent,
    PaymentNotification,
)
from tests.factories import PaymentFactory, ReceiptFactory

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def test_the_history_holds_every_record_about_the_payment_and_nothing_else(session):
    payment = PaymentFactory(channel=Channel.DIGILEDGE, partner_txn_ref="REF-1")
    other = PaymentFactory(channel=Channel.DIGILEDGE, partner_txn_ref="REF-2")
    receipt = ReceiptFactory(payment=payment)
    job = Job(kind=JobKind.CONFIRM_PAYMENT, partner="digiledge", payment_id=payment.id, anchor_at=NOW, due_at=NOW)
    other_job = Job(kind=JobKind.CONFIRM_PAYMENT, partner="digiledge", payment_id=other.id, anchor_at=NOW, due_at=NOW)
    session.add_all([job, other_job])
    session.flush()
    call = OutboundCall(job_id=job.id, partner="digiledge", operation="status", method="POST", url="https://d.example")
    event = PaymentEvent(payment_id=payment.id, kind="recorded", to_status="RECEIVED", source="digiledge")
    logged = InboundMessage(
        channel="digiledge",
        method="POST",
        path="/digiledge/payment",
        request_id="r",
        headers={},
        body=b"{}",
        status_code=200,
        outcome="payment_queued",
        partner_ref="REF-1",
    )
    elsewhere = InboundMessage(
        channel="kaleidofin",
        method="POST",
        path="/bills/fetchReceipt",
        request_id="r",
        headers={},
        body=b"{}",
        status_code=200,
        outcome="receipt_issued",
        partner_ref="REF-1",  # the same text on another channel
    )
    notification = PaymentNotification(
        channel=Channel.DIGILEDGE,
        ref_id="REF-1",
        fingerprint="f" * 64,
        body={},
        reported_status="SUCCESS",
        outcome="confirmed",
        ack_code=200,
        ack_status="SUCCESS",
        ack_reason="ok",
        payment_id=payment.id,
    )
    session.add_all(
        [
            call,
            event,
            logged,
            elsewhere,
            notification,
            OutboundCall(job_id=other_job.id, partner="x", operation="s", method="GET", url="u"),
        ]
    )
    session.flush()

    history = payment_history(session=session, payment_id=payment.id)

    assert history.payment is payment and history.bill is payment.bill and history.receipt is receipt
    assert history.jobs == [job] and history.outbound_calls == [call] and history.events == [event]
    assert history.inbound_messages == [logged] and history.notifications == [notification]


def test_an_unknown_payment_has_no_history(session):
    assert payment_history(session=session, payment_id=987654) is None
