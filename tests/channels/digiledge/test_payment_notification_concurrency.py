"""Digiledge may deliver one notification several times at once. Real commits here."""

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import (
    BillStatus,
    Channel,
    Payment,
    PaymentEvent,
    PaymentNotification,
    PaymentStatus,
)
from tests.channels.digiledge.test_payment_notification import notification
from tests.conftest import DIGILEDGE_KEY
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory, bind

CALLERS = 20


def _concurrently(app, body):
    barrier = threading.Barrier(CALLERS)

    def call(_):
        client = app.test_client()
        barrier.wait()
        return client.post("/digiledge/payment-notification", json=body, headers={"X-API-Key": DIGILEDGE_KEY})

    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(call, range(CALLERS)))


def test_concurrent_identical_notifications_have_one_effect_and_identical_acks(committing_app, engine):
    with Session(engine) as session:
        bind(session)
        try:
            bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
            payment = PaymentFactory(bill=bill, channel=Channel.DIGILEDGE, partner_txn_ref="RACE-REF")
            ReceiptFactory(payment=payment)
            session.commit()
        finally:
            bind(None)

    responses = _concurrently(committing_app, notification(status="Failure", ref_id="RACE-REF"))

    assert [response.status_code for response in responses] == [200] * CALLERS
    assert len({response.get_data() for response in responses}) == 1
    with Session(engine) as session:
        payment = session.scalars(sa.select(Payment)).one()
        assert payment.status is PaymentStatus.FAILED
        assert (payment.bill.paid_paise, payment.bill.status) == (0, BillStatus.OPEN)
        assert session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 1
        kinds = session.scalars(sa.select(PaymentEvent.kind)).all()
        assert kinds.count("failed") == 1


def test_concurrent_identical_notifications_for_an_unknown_ref_are_stored_once(committing_app, engine):
    responses = _concurrently(committing_app, notification(ref_id="NOBODY-KNOWS"))
    assert len({response.get_data() for response in responses}) == 1
    assert responses[0].json["status"] == "RECORDED"
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 1
