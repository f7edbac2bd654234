"""Kaleidofin retries fetchReceipt when it gets no answer in time; retries may overlap. Real commits here."""

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import Bill, BillStatus, Job, Payment, Receipt
from tests.conftest import KALEIDOFIN_KEY
from tests.factories import BillFactory, bind

CALLERS = 20


def _seed_bill(engine, partner_bill_id: str) -> None:
    with Session(engine) as session:
        bind(session)
        try:
            BillFactory(partner_bill_id=partner_bill_id, amount_paise=100_000)
            session.commit()
        finally:
            bind(None)


def _concurrently(app, bodies):
    barrier = threading.Barrier(len(bodies))

    def call(body):
        client = app.test_client()
        barrier.wait()
        return client.post("/bills/fetchReceipt", json=body, headers={"X-API-Key": KALEIDOFIN_KEY})

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(call, bodies))


def _body(txn: str, bill: str = "RACE-1") -> dict:
    return {
        "systemBillId": 77,
        "partnerBillId": bill,
        "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": txn},
    }


def test_concurrent_identical_calls_make_one_payment_and_give_everyone_the_same_receipt(committing_app, engine):
    _seed_bill(engine, "RACE-1")
    responses = _concurrently(committing_app, [_body("SAME-TXN")] * CALLERS)

    assert [response.status_code for response in responses] == [200] * CALLERS
    assert len({response.get_data() for response in responses}) == 1
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1
        bill = session.scalars(sa.select(Bill)).one()
        assert (bill.paid_paise, bill.status) == (100_000, BillStatus.PAID)


def test_concurrent_different_payments_against_one_exact_bill_pay_it_once(committing_app, engine):
    _seed_bill(engine, "RACE-1")
    responses = _concurrently(committing_app, [_body(f"TXN-{n}") for n in range(CALLERS)])

    codes = sorted(response.status_code for response in responses)
    assert codes == [200] + [400] * (CALLERS - 1)
    refusals = {response.json["error"]["code"] for response in responses if response.status_code == 400}
    assert refusals == {"bill-already-fulfilled"}
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
        assert session.scalars(sa.select(Bill.paid_paise)).one() == 100_000
