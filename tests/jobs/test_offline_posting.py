"""Kaleidofin's Payment API moves money: whatever happens, it is posted at most once per payment."""

import datetime as dt

import pytest

from biller_server.clients.http import Timeouts
from biller_server.clients.kaleidofin import KaleidofinClient
from biller_server.domain.confirmations import record_offline_payment
from biller_server.persistence.models import JobState, PaymentStatus
from tests.factories import BillFactory
from tests.fakes import payloads
from tests.fakes.server import Reply, server_error
from tests.jobs.conftest import START, job_of, run_until_idle

A_DAY = START + dt.timedelta(days=2)


@pytest.fixture
def kaleidofin(fake_partner):
    client = KaleidofinClient(
        status_url=f"{fake_partner.url}/status",
        payment_url=f"{fake_partner.url}/payment",
        fetch_bills_url=f"{fake_partner.url}/fetchBills",
        biller_id="LENDER01",
        timeouts=Timeouts(connect=0.5, read=0.3),
    )
    yield client
    client.close()


def _offline_payment(session, *, system_bill_id="19", partner_bill_id="LOAN-1"):
    BillFactory(partner_bill_id=partner_bill_id, amount_paise=100_000)
    recorded = record_offline_payment(
        session=session,
        partner_bill_id=partner_bill_id,
        amount_paise=100_000,
        transaction_id="127829461946",
        paid_on=dt.date(2026, 11, 1),
        system_bill_id=system_bill_id,
        now=START,
    )
    session.flush()
    return recorded.payment


def test_an_offline_payment_is_posted_once_and_confirmed_by_the_answer(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    [post] = fake_partner.received("POST", "/payment")
    assert post.json() == {
        "systemBillId": 19,
        "transactionId": "127829461946",
        "amountPaid": 1000,
        "paymentDate": "2026-11-01",
    }
    job = job_of(session, payment)
    assert (job.state, job.outcome, job.attempts) == (JobState.DONE, "succeeded", 1)
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_a_post_that_times_out_is_never_repeated_the_status_api_is_asked_instead(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT, delay=0.6))
    fake_partner.reply(
        "GET",
        "/status/19",
        Reply(body=payloads.KALEIDOFIN_STATUS),
        server_error(),
        Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL")),
    )

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert len(fake_partner.received("POST", "/payment")) == 1
    assert len(fake_partner.received("GET", "/status/19")) == 3
    job = job_of(session, payment)
    assert (job.state, job.attempts) == (JobState.DONE, 4)
    assert job.payload["post_attempted_at"] == (START + dt.timedelta(seconds=5)).isoformat()
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_a_worker_killed_after_claiming_the_post_never_lets_another_worker_post(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT))
    fake_partner.reply("GET", "/status/19", Reply(body=payloads.KALEIDOFIN_STATUS))
    doomed = make_engine({"kaleidofin": kaleidofin}, worker_id="doomed", lease_seconds=60)
    clock.set(START + dt.timedelta(seconds=5))
    assert doomed.claim() is not None  # committed "post attempted"; then the process dies before (or during) the call

    clock.advance(dt.timedelta(seconds=61))
    run_until_idle(
        make_engine({"kaleidofin": kaleidofin}, worker_id="survivor"), clock, until=START + dt.timedelta(minutes=3)
    )

    assert fake_partner.received("POST", "/payment") == []
    assert len(fake_partner.received("GET", "/status/19")) > 1
    session.refresh(payment)
    assert payment.status is PaymentStatus.RECEIVED  # Kaleidofin never heard of it: a person will see it after a day


def test_a_post_kaleidofin_rejects_stops_and_is_never_repeated(session, make_engine, clock, kaleidofin, fake_partner):
    payment = _offline_payment(session)
    fake_partner.reply(
        "POST", "/payment", Reply(status=400, body={"success": False, "statusMessage": "bad systemBillId"})
    )

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert len(fake_partner.received("POST", "/payment")) == 1
    job = job_of(session, payment)
    assert job.state is JobState.STOPPED
    assert "HTTP 400" in job.last_error
    session.refresh(payment)
    assert payment.status is PaymentStatus.UNRESOLVED


def test_an_unknown_system_bill_id_is_found_with_fetch_bills_before_the_post(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session, system_bill_id=None, partner_bill_id="TEST-124")
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=payloads.KALEIDOFIN_FETCH_BILLS))
    fake_partner.reply("POST", "/payment", Reply(body=payloads.kaleidofin_payment_with("PAYMENT_SUCCESSFUL")))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    [fetch] = fake_partner.received("POST", "/fetchBills/LENDER01")
    assert fetch.json() == [
        {"identifierKey": "customerId", "identifierValue": payment.bill.customer.lender_customer_id}
    ]
    [post] = fake_partner.received("POST", "/payment")
    assert post.json()["systemBillId"] == 17
    session.refresh(payment)
    assert (payment.status, payment.partner_bill_ref) == (PaymentStatus.CONFIRMED, "17")
