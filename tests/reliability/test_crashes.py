"""kill -9 under load: an API worker and the confirmation worker die mid-flight; nothing answered is lost, the
books balance, and every confirmation completes once the server is back. Half the payments come through Kaleidofin,
half through Setu."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import Bill, Job, JobState, Payment, PaymentStatus, Receipt
from tests.conftest import KALEIDOFIN_KEY, SETU_KEY
from tests.factories import BillFactory
from tests.reliability.conftest import seed

pytestmark = [pytest.mark.parametrize("backend", ["postgresql"]), pytest.mark.slow]
BILLS = 300


def body(n):
    return {
        "systemBillId": 10_000 + n,
        "partnerBillId": f"CRASH-{n}",
        "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": f"CRASH-TXN-{n}"},
    }


def setu_body(n):
    return {
        "platformBillID": f"PB-{n}",
        "billerBillID": f"CRASH-{n}",
        "paymentDetails": {
            "amountPaid": {"value": 100_000, "currencyCode": "INR"},
            "billAmount": {"value": 100_000, "currencyCode": "INR"},
            "platformTransactionRefID": f"PTR-{n}",
            "uniquePaymentRefID": f"CRASH-TXN-{n}",
        },
    }


def pay(server, n):
    try:
        if n % 2:
            response = server.post("/setu/bills/fetchReceipt", setu_body(n), key=SETU_KEY, timeout=15)
        else:
            response = server.post("/bills/fetchReceipt", body(n), key=KALEIDOFIN_KEY, timeout=15)
    except requests.RequestException as exc:
        return n, None, repr(exc)
    return n, response.status_code, response.json() if response.status_code == 200 else response.text


def books(engine):
    with Session(engine) as session:
        applied = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_paise), 0)).where(Payment.applied_to_bill.is_(True))
        )
        paid = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Bill.paid_paise), 0)))
        return applied, paid


def test_killed_workers_lose_nothing_and_confirmations_complete_after_restart(backend, live_server, live_engine):
    server = live_server(workers=2, threads=8, with_worker=True)
    seed(live_engine, lambda: [BillFactory(partner_bill_id=f"CRASH-{n}", amount_paise=100_000) for n in range(BILLS)])
    api_victim = server.api_worker_pids()[0]
    [confirmation_worker] = server.confirmation_worker_pids()

    results = []
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(pay, server, n) for n in range(BILLS)]
        for index, future in enumerate(futures):
            results.append(future.result())
            if index == BILLS // 3:
                os.kill(api_victim, signal.SIGKILL)
                os.kill(confirmation_worker, signal.SIGKILL)

    unanswered = [n for n, status, _ in results if status is None]
    # Like the partner, retry what got no answer: the retry is either the first delivery or a replay.
    retried = [pay(server, n) for n in unanswered]
    answers = {n: (status, payload) for n, status, payload in [*results, *retried]}
    assert all(status == 200 for status, _ in answers.values()), {n: a for n, a in answers.items() if a[0] != 200}

    with Session(live_engine) as session:
        receipts = dict(
            session.execute(
                sa.select(Payment.partner_txn_ref, Receipt.receipt_number).join(
                    Receipt, Receipt.payment_id == Payment.id
                )
            ).all()
        )
    for n, (_, payload) in answers.items():
        assert receipts[f"CRASH-TXN-{n}"] == payload["data"]["receipt"]["id"]
    applied, paid = books(live_engine)
    assert applied == paid == BILLS * 100_000

    # The confirmation worker died holding work; a restarted server's worker finishes all of it.
    server.stop()
    live_server(workers=1, threads=4, with_worker=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with Session(live_engine) as session:
            pending = session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.state == JobState.PENDING))
        if pending == 0:
            break
        time.sleep(0.5)
    with Session(live_engine) as session:
        statuses = session.scalars(sa.select(Payment.status)).all()
        done = session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.state == JobState.DONE))
    assert len(statuses) == BILLS
    assert set(statuses) == {PaymentStatus.CONFIRMED}
    assert done == BILLS
    print(
        f"crash scenario: {BILLS} payments, {len(unanswered)} unanswered at the kill and retried, "
        f"0 lost, {done} confirmations completed after restart"
    )
