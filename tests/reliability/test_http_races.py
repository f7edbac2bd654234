"""Duplicates and races through real HTTP, against gunicorn with several workers and threads, on PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import (
    AdhocPaymentAccount,
    Bill,
    BillStatus,
    Channel,
    Job,
    Payment,
    PaymentEvent,
    PaymentNotification,
    PaymentStatus,
    Receipt,
    SettlementEvent,
    SettlementEventBill,
)
from tests.conftest import DIGILEDGE_KEY, KALEIDOFIN_KEY, SETU_KEY
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory
from tests.fakes.setu_payloads import SETTLEMENT_NOTIFICATION, published
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


def test_one_transaction_against_many_bills_at_once_is_recorded_once_and_the_rest_conflict(
    backend, live_server, live_engine
):
    # Each bill's lock lets its request through at once: only the payment's unique reference can stop the twins.
    server = live_server(workers=2, threads=16, with_worker=False)
    bills = [f"RACE-BILL-{n}" for n in range(10)]
    seed(live_engine, lambda: [BillFactory(partner_bill_id=bill, amount_paise=100_000) for bill in bills])

    responses = all_at_once(
        [
            (lambda bill=bill: server.post("/bills/fetchReceipt", receipt_body("SAME", bill), key=KALEIDOFIN_KEY))
            for bill in bills
        ]
    )

    assert sorted(r.status_code for r in responses) == [200] + [409] * (len(bills) - 1)
    assert count(live_engine, Payment) == count(live_engine, Receipt) == count(live_engine, Job) == 1
    with Session(live_engine) as session:
        assert sorted(session.scalars(sa.select(Bill.paid_paise))) == [0] * (len(bills) - 1) + [100_000]


def setu_receipt_body(reference, biller_bill_id="RACE-BILL"):
    return {
        "platformBillID": "906910589572351478",
        "billerBillID": biller_bill_id,
        "paymentDetails": {
            "amountPaid": {"value": 100_000, "currencyCode": ""},
            "billAmount": {"value": 100_000, "currencyCode": ""},
            "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
            "uniquePaymentRefID": reference,
            "transactionTimestamp": "2026-11-30T03:05:22.000Z",
        },
    }


def test_fifty_identical_setu_postings_make_one_payment_and_one_answer(backend, live_server, live_engine):
    server = live_server(workers=2, threads=16, with_worker=False)
    seed(live_engine, lambda: BillFactory(partner_bill_id="RACE-BILL", amount_paise=100_000))
    body = setu_receipt_body("PP012151MYB616O9BSY1")

    responses = all_at_once([lambda: server.post("/setu/bills/fetchReceipt", body, key=SETU_KEY)] * CALLERS)

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert len({r.content for r in responses}) == 1
    assert count(live_engine, Payment) == count(live_engine, Receipt) == count(live_engine, Job) == 1
    # Setu's 30 s retry, after the storm: the same answer again, still one effect.
    assert server.post("/setu/bills/fetchReceipt", body, key=SETU_KEY).content == responses[0].content
    assert count(live_engine, Payment) == 1
    with Session(live_engine) as session:
        assert session.scalars(sa.select(Bill.paid_paise)).one() == 100_000


def test_fifty_concurrent_validate_and_pay_postings_book_one_bill(backend, live_server, live_engine):
    server = live_server(workers=2, threads=16, with_worker=False)
    seed(live_engine, lambda: BillFactory(customer__lender_customer_id="9117534711"))
    validation = {"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": "9117534711"}]}

    accounts = all_at_once([lambda: server.post("/setu/customer/validate", validation, key=SETU_KEY)] * CALLERS)
    assert [r.status_code for r in accounts] == [200] * CALLERS
    (account,) = {r.json()["data"]["billerBillID"] for r in accounts}
    assert count(live_engine, AdhocPaymentAccount) == 1

    body = setu_receipt_body("ADHOC-PAYMENT-1", biller_bill_id=account)
    del body["paymentDetails"]["billAmount"]
    responses = all_at_once([lambda: server.post("/setu/bills/fetchReceipt", body, key=SETU_KEY)] * CALLERS)

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert len({r.content for r in responses}) == 1
    assert count(live_engine, Payment) == 1
    with Session(live_engine) as session:
        booked = session.scalars(sa.select(Bill).where(Bill.partner_bill_id.startswith(account + "-"))).one()
        assert (booked.amount_paise, booked.paid_paise, booked.status) == (100_000, 100_000, BillStatus.PAID)


def test_fifty_identical_settlement_notifications_store_one_event_and_confirm_once(backend, live_server, live_engine):
    server = live_server(workers=2, threads=16, with_worker=False)

    def build():
        for n in (1, 2):
            PaymentFactory(channel=Channel.SETU, partner_txn_ref=f"UPR-{n}", partner_bill_ref=f"platformBillId{n}")

    seed(live_engine, build)
    body = published(SETTLEMENT_NOTIFICATION)  # Setu's sample, naming platformBillId1 and platformBillId2

    responses = all_at_once([lambda: server.post("/setu/notifications", body, key=SETU_KEY)] * CALLERS)

    assert [r.status_code for r in responses] == [200] * CALLERS
    assert len({r.content for r in responses}) == 1
    assert count(live_engine, SettlementEvent) == 1
    assert count(live_engine, SettlementEventBill) == 2
    with Session(live_engine) as session:
        assert set(session.scalars(sa.select(Payment.status))) == {PaymentStatus.CONFIRMED}
        confirmations = session.scalar(
            sa.select(sa.func.count()).select_from(PaymentEvent).where(PaymentEvent.kind == "confirmed")
        )
        assert confirmations == 2
