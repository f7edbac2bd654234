"""Digiledge may send one payment request several times at once. Real commits here."""

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import BillStatus, InboundMessage, Job, JobKind, Payment, Receipt
from tests.channels.digiledge.protocol import borrower, fetch_body, instalment, payment_body
from tests.conftest import DIGILEDGE_KEY
from tests.factories import bind

CALLERS = 20


def _concurrently(app, path, body):
    barrier = threading.Barrier(CALLERS)

    def call(_):
        client = app.test_client()
        barrier.wait()
        return client.post(path, json=body, headers={"X-API-Key": DIGILEDGE_KEY})

    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(call, range(CALLERS)))


def _with_a_bill(engine, **values):
    with Session(engine) as session:
        bind(session)
        try:
            instalment(borrower(), amount_paise=100_000, **values)
            session.commit()
        finally:
            bind(None)


def _count(session, query):
    return session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def test_concurrent_identical_payments_record_one_payment_with_identical_acks(committing_app, engine):
    _with_a_bill(engine)

    responses = _concurrently(committing_app, "/digiledge/payment", payment_body())

    assert [response.status_code for response in responses] == [200] * CALLERS
    assert len({response.get_data() for response in responses}) == 1
    assert responses[0].json["status"] == "ACCEPTED"
    with Session(engine) as session:
        payment = session.scalars(sa.select(Payment)).one()
        assert (payment.bill.paid_paise, payment.bill.status) == (100_000, BillStatus.PAID)
        assert _count(session, sa.select(Receipt)) == 1
        jobs = session.scalars(sa.select(Job).order_by(Job.kind)).all()
        assert sorted(job.kind for job in jobs) == sorted([JobKind.CONFIRM_PAYMENT, JobKind.DELIVER_RESPONSE])
        [delivery] = [job for job in jobs if job.kind is JobKind.DELIVER_RESPONSE]
        assert delivery.payload["body"]["status"] == "Successful"
        outcomes = sorted(session.scalars(sa.select(InboundMessage.outcome)).all())
        assert outcomes == ["payment_queued"] + ["payment_repeated"] * (CALLERS - 1)


def test_concurrent_identical_refused_payments_queue_one_failure(committing_app, engine):
    _with_a_bill(engine)

    responses = _concurrently(committing_app, "/digiledge/payment", payment_body(amount="1.00"))

    assert len({response.get_data() for response in responses}) == 1
    with Session(engine) as session:
        assert _count(session, sa.select(Payment)) == 0
        [delivery] = session.scalars(sa.select(Job)).all()
        assert delivery.payload["body"]["errorCode"] == "BLR007"


def test_concurrent_identical_fetches_queue_one_response(committing_app, engine):
    _with_a_bill(engine)

    responses = _concurrently(committing_app, "/digiledge/fetch", fetch_body())

    assert [response.status_code for response in responses] == [200] * CALLERS
    assert len({response.get_data() for response in responses}) == 1
    with Session(engine) as session:
        assert _count(session, sa.select(Job)) == 1
