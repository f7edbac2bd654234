"""Kaleidofin's Payment API moves money: whatever happens, it is posted at most once per payment."""

import datetime as dt

import pytest

from biller_server.clients.http import Timeouts
from biller_server.clients.kaleidofin import KaleidofinClient
from biller_server.domain.payments.offline import record_offline_payment
from biller_server.domain.payments.recording import PaymentRequest, record_payment
from biller_server.jobs.engine import ConfirmationBatch
from biller_server.persistence.models import AmountExactness, BillStatus, Channel, JobState, PaymentStatus
from tests.factories import BillFactory, PaymentFactory
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
        # The post's answer never came, so only an answer naming the posting's transactionId can confirm it.
        Reply(body=payloads.kaleidofin_status_naming("PAYMENT_SUCCESSFUL", transaction_id="127829461946")),
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


# --- An offline payment is money already in the lender's hands: never reversed, whatever Kaleidofin says. ---


def _bill_and_payment(session, payment):
    session.refresh(payment)
    session.refresh(payment.bill)
    return payment, payment.bill


@pytest.mark.parametrize("bill_status", ["PAYMENT_FAILED", "PAYMENT_ATTEMPT_FAILED"])
def test_a_post_kaleidofin_answers_failed_leaves_the_cash_on_the_bill_and_the_payment_unresolved(
    session, make_engine, clock, kaleidofin, fake_partner, bill_status
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.kaleidofin_payment_with(bill_status)))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert len(fake_partner.received("POST", "/payment")) == 1
    assert fake_partner.received("GET") == []  # stopped at once: nothing more to ask
    payment, bill = _bill_and_payment(session, payment)
    assert (payment.status, payment.applied_to_bill) == (PaymentStatus.UNRESOLVED, True)
    assert f"not posted to Kaleidofin ({bill_status}" in payment.status_reason
    assert "not reversed" in payment.status_reason
    assert (bill.paid_paise, bill.status) == (100_000, BillStatus.PAID)
    job = job_of(session, payment)
    assert (job.state, job.outcome) == (JobState.STOPPED, "not_posted")
    assert bill_status in job.last_error
    kinds = [event.kind for event in payment.events]
    assert kinds[-1] == "unresolved" and "failed" not in kinds


@pytest.mark.parametrize(
    "status_reply",
    [
        payloads.kaleidofin_status_with("PAYMENT_FAILED"),  # bill-level, names nothing
        payloads.kaleidofin_status_naming("PAYMENT_ATTEMPT_FAILED", transaction_id="127829461946"),
    ],
    ids=["bill-level", "named"],
)
def test_a_failure_in_the_status_api_after_the_post_never_reverses_the_cash(
    session, make_engine, clock, kaleidofin, fake_partner, status_reply
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", server_error())
    fake_partner.reply("GET", "/status/19", Reply(body=payloads.KALEIDOFIN_STATUS), Reply(body=status_reply))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert len(fake_partner.received("POST", "/payment")) == 1
    assert len(fake_partner.received("GET", "/status/19")) == 2
    payment, bill = _bill_and_payment(session, payment)
    assert (payment.status, payment.applied_to_bill) == (PaymentStatus.UNRESOLVED, True)
    assert (bill.paid_paise, bill.status) == (100_000, BillStatus.PAID)
    assert job_of(session, payment).state is JobState.STOPPED


# --- Confirmed only by an answer that names the posting, never by the bill's status alone. ---


def test_a_post_that_never_left_is_not_confirmed_by_the_bills_success_and_ends_unresolved(
    session, make_engine, clock, kaleidofin, fake_partner
):
    """The gap the old fake hid (its Status API always said BILL_CREATED): the bill says paid, by someone else."""
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT))
    fake_partner.reply(
        "GET",
        "/status/19",
        Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL")),
        Reply(body=payloads.kaleidofin_status_naming("PAYMENT_SUCCESSFUL", receipt="R-A-BBPS-PAYMENT")),
    )
    doomed = make_engine({"kaleidofin": kaleidofin}, worker_id="doomed", lease_seconds=60)
    clock.set(START + dt.timedelta(seconds=5))
    assert doomed.claim() is not None  # "post attempted" committed; the worker dies before sending

    clock.advance(dt.timedelta(seconds=61))
    run_until_idle(make_engine({"kaleidofin": kaleidofin}, worker_id="survivor"), clock, until=A_DAY)

    assert fake_partner.received("POST", "/payment") == []
    payment, bill = _bill_and_payment(session, payment)
    assert payment.status is PaymentStatus.UNRESOLVED  # as the docs promise: a person posts it by hand
    assert "last: pending (PAYMENT_SUCCESSFUL)" in payment.status_reason
    assert (bill.paid_paise, payment.applied_to_bill) == (100_000, True)
    assert job_of(session, payment).state is JobState.UNRESOLVED


def test_a_status_answer_naming_the_receipt_kaleidofin_gave_for_the_post_confirms_it(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.kaleidofin_payment_with("BILL_CREATED")))
    fake_partner.reply(
        "GET",
        "/status/19",
        Reply(body=payloads.kaleidofin_status_naming("PAYMENT_SUCCESSFUL", receipt="R-SOMEONE-ELSE")),
        Reply(body=payloads.kaleidofin_status_naming("PAYMENT_SUCCESSFUL", receipt="R0123")),
    )

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert len(fake_partner.received("POST", "/payment")) == 1
    assert len(fake_partner.received("GET", "/status/19")) == 2
    job = job_of(session, payment)
    assert (job.state, job.outcome, job.payload["posting_receipt"]) == (JobState.DONE, "succeeded", "R0123")
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_fetch_bills_never_picks_our_bill_once_kaleidofin_holds_a_payment_on_it(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session, system_bill_id=None, partner_bill_id="TEST-124")
    already_paid = {
        "success": True,
        "statusCode": "0",
        "statusMessage": "Success",
        "bills": [{"systemBillId": 17, "partnerBillId": "TEST-124", "billStatus": "PAYMENT_SUCCESSFUL"}],
    }
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=already_paid))
    fake_partner.reply("GET", "/status/17", Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL")))
    clock.set(START + dt.timedelta(hours=23, minutes=55))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert fake_partner.received("POST", "/payment") == []
    assert fake_partner.received("GET") == []
    session.refresh(payment)
    assert (payment.status, payment.partner_bill_ref) == (PaymentStatus.UNRESOLVED, None)
    assert "not_found (no open bill)" in payment.status_reason


def test_fetch_bills_never_picks_a_system_bill_id_one_of_our_payments_is_on(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session, system_bill_id=None, partner_bill_id="TEST-124")
    # A BBPS payment Kaleidofin told us of on systemBill 17, though its Fetch Bills still says BILL_CREATED.
    PaymentFactory(bill=payment.bill, partner_bill_ref="17", amount_paise=1_000)
    session.flush()
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=payloads.KALEIDOFIN_FETCH_BILLS))
    clock.set(START + dt.timedelta(hours=23, minutes=55))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert len(fake_partner.received("POST", "/fetchBills/LENDER01")) == 2
    assert fake_partner.received("POST", "/payment") == []
    session.refresh(payment)
    assert (payment.status, payment.partner_bill_ref) == (PaymentStatus.UNRESOLVED, None)


def test_an_offline_payment_on_a_bill_with_an_earlier_bbps_payment_is_never_confirmed_by_it(
    session, make_engine, clock, kaleidofin, fake_partner
):
    """The reviewer's case: 400 paid through BBPS on systemBill 14, the other 600 at the branch."""
    BillFactory(partner_bill_id="LOAN-1", amount_paise=100_000, exactness=AmountExactness.ANY)
    record_payment(
        session=session,
        request=PaymentRequest(
            channel=Channel.KALEIDOFIN,
            partner_txn_ref="K-1",
            partner_bill_id="LOAN-1",
            amount_paise=40_000,
            declared_bill_amount_paise=100_000,
            partner_bill_ref="14",
        ),
        confirm_with=None,
        now=START,
    )
    offline = record_offline_payment(
        session=session,
        partner_bill_id="LOAN-1",
        amount_paise=60_000,
        transaction_id="BR-1",
        paid_on=dt.date(2026, 11, 2),
        system_bill_id=None,
        now=START,
    )
    session.flush()
    assert offline.payment.partner_bill_ref is None  # systemBill 14 carries the BBPS payment: not reused
    fake_partner.reply("GET", "/status/14", Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL")))
    bills = {
        "success": True,
        "statusCode": "0",
        "statusMessage": "Success",
        "bills": [{"systemBillId": 14, "partnerBillId": "LOAN-1", "billStatus": "PAYMENT_SUCCESSFUL"}],
    }
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=bills))
    doomed = make_engine({"kaleidofin": kaleidofin}, worker_id="doomed", lease_seconds=60)
    clock.set(START + dt.timedelta(seconds=5))
    assert doomed.claim() is not None
    clock.advance(dt.timedelta(seconds=61))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}, worker_id="survivor"), clock, until=A_DAY)

    assert fake_partner.received("POST", "/payment") == []
    assert fake_partner.received("GET", "/status/14") == []
    session.refresh(offline.payment)
    assert offline.payment.status is PaymentStatus.UNRESOLVED


# --- The one post is used up only by a call that may have sent something. ---


def test_a_worker_without_the_payment_url_does_not_use_up_the_one_post(session, make_engine, clock, fake_partner):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT))
    unconfigured = KaleidofinClient(
        status_url=f"{fake_partner.url}/status", payment_url=None, timeouts=Timeouts(connect=0.5, read=0.3)
    )
    clock.set(START + dt.timedelta(seconds=5))

    assert make_engine({"kaleidofin": unconfigured}).run_once()

    job = job_of(session, payment)
    assert "post_attempted_at" not in job.payload and "post_attempted_by" not in job.payload
    assert "BILLER_KALEIDOFIN_PAYMENT_URL" in job.last_error
    assert (job.state, job.due_at) == (JobState.PENDING, START + dt.timedelta(seconds=10))
    assert fake_partner.received() == []

    configured = KaleidofinClient(
        status_url=f"{fake_partner.url}/status",
        payment_url=f"{fake_partner.url}/payment",
        timeouts=Timeouts(connect=0.5, read=0.3),
    )
    run_until_idle(make_engine({"kaleidofin": configured}), clock, until=A_DAY)
    configured.close()
    unconfigured.close()

    assert len(fake_partner.received("POST", "/payment")) == 1
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_a_worker_with_no_kaleidofin_client_does_not_use_up_the_one_post(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT))
    clock.set(START + dt.timedelta(seconds=5))

    assert make_engine({}).run_once()
    assert "post_attempted_at" not in job_of(session, payment).payload

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=A_DAY)

    assert len(fake_partner.received("POST", "/payment")) == 1


@pytest.mark.parametrize(
    "reply", [server_error(), Reply(drop=True), Reply(body="not json")], ids=["5xx", "dropped", "malformed"]
)
def test_a_post_that_may_have_reached_kaleidofin_is_never_repeated(
    session, make_engine, clock, kaleidofin, fake_partner, reply
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", reply)
    fake_partner.reply("GET", "/status/19", Reply(body=payloads.KALEIDOFIN_STATUS))

    run_until_idle(make_engine({"kaleidofin": kaleidofin}), clock, until=START + dt.timedelta(minutes=2))

    assert len(fake_partner.received("POST", "/payment")) == 1
    job = job_of(session, payment)
    assert job.payload["post_attempted_at"] == (START + dt.timedelta(seconds=5)).isoformat()
    assert len(fake_partner.received("GET", "/status/19")) > 1


def test_a_post_claimed_in_a_batch_and_given_back_unsent_is_posted_once_by_the_next_worker(
    session, make_engine, clock, kaleidofin, fake_partner
):
    payment = _offline_payment(session)
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT))
    batch = ConfirmationBatch(4)
    stopping = make_engine({"kaleidofin": kaleidofin}, worker_id="stopping", batch=batch)
    clock.set(START + dt.timedelta(seconds=5))
    batch.claimed.extend(stopping.claim_many(4))  # "post attempted" committed with the claim ...
    assert job_of(session, payment).payload.get("post_attempted_at")

    stopping.settle()  # ... and taken back: the worker stopped before any thread called

    assert not job_of(session, payment).payload.get("post_attempted_at")
    run_until_idle(make_engine({"kaleidofin": kaleidofin}, worker_id="next"), clock, until=A_DAY)
    assert len(fake_partner.received("POST", "/payment")) == 1
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED
