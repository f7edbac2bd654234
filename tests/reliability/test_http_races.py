"""Duplicates and races through real HTTP, against gunicorn with several workers and threads, on PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import (
    Bill,
    BillStatus,
    Channel,
    Payment,
    PaymentNotification,
    PaymentStatus,
    Receipt,
)
from tests.conftest import DIGILEDGE_KEY, KALEIDOFIN_KEY
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory
from tests.reliability.conftest import count, seed

pytestmark = [pytest.mark.parametrize("backend", ["postgresql"]), pytest.mark.slow]
CALLERS = 50


def all_at_once(calls):
    """Run the calls in threads released together by a barrier; return their responses in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def receipt_body(txn, bill="RACE-BILL"):
    return {
        "systemBillId": 901,
        "partnerBillId": bill,
        "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": txn},
    }


def test_fifty_identical_receipt_calls_make_one_payment_and_one_answer(backend, live_server, live_engine):
    server = live_server(workers=2, threads=16, with_worker=False)
    seed(live_engine, lambda: BillFactory(partner_bill_id="RACE-BILL", amount_paise=100_000))

    responses = all_at_once(
        [lambda: server.post("/bills/fetchReceipt", receipt_body("SAME"), key=KALEIDOFIN_KEY)] * CALLERS
    )

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert len({r.content for r in responses}) == 1
    assert count(live_engine, Payment) == count(live_engine, Receipt) == 1


def test_fifty_identical_notifications_have_one_effect_and_one_ack(backend, live_server, live_engine):
    server = live_server(workers=2, threads=16, with_worker=False)

    def build():
        bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
        ReceiptFactory(payment=PaymentFactory(bill=bill, channel=Channel.DIGILEDGE, partner_txn_ref="RACE-REF"))

    seed(live_engine, build)
    body = {
        "refId": "RACE-REF",
        "status": "Failure",
        "reason": "declined",
        "ack": {
            "api": "PAYMENT_RESPONSE",
            "refId": "RACE-REF",
            "msgId": "M1",
            "rspCd": "BFR004",
            "ts": "2026-11-23T10:15:00+05:30",
            "errorMessages": [{"errorCd": "BFR004", "errorDtl": "no"}],
        },
    }

    responses = all_at_once([lambda: server.post("/digiledge/payment-notification", body, key=DIGILEDGE_KEY)] * CALLERS)

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert len({r.content for r in responses}) == 1
    assert count(live_engine, PaymentNotification) == 1
    with Session(live_engine) as session:
        payment = session.scalars(sa.select(Payment)).one()
        assert payment.status is PaymentStatus.FAILED
        assert payment.bill.paid_paise == 0


def test_fifty_different_payments_against_one_exact_bill_pay_it_once(backend, live_server, live_engine):
    server = live_server(workers=2, threads=16, with_worker=False)
    seed(live_engine, lambda: BillFactory(partner_bill_id="RACE-BILL", amount_paise=100_000))

    responses = all_at_once(
        [
            (lambda n=n: server.post("/bills/fetchReceipt", receipt_body(f"TXN-{n}"), key=KALEIDOFIN_KEY))
            for n in range(CALLERS)
        ]
    )

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [400] * (CALLERS - 1)
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 400} == {"bill-already-fulfilled"}
    assert count(live_engine, Payment) == 1
    with Session(live_engine) as session:
        assert session.scalars(sa.select(Bill.paid_paise)).one() == 100_000
