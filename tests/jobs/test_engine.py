import datetime as dt

import sqlalchemy as sa

from biller_server.clients.base import (
    Outcome,
    PartnerRejectedRequest,
    PartnerUnavailable,
    StatusResult,
)
from biller_server.clients.fake import FakePartnerClient
from biller_server.clients.http import Timeouts
from biller_server.clients.kaleidofin import KaleidofinClient
from biller_server.clients.payu import PayUClient
from biller_server.domain.payments.outcomes import apply_payment_outcome
from biller_server.jobs.schedule import check_offsets
from biller_server.persistence.models import (
    BillStatus,
    JobState,
    OutboundCall,
    PaymentEvent,
    PaymentStatus,
)
from tests.fakes import payloads
from tests.fakes.server import Reply
from tests.jobs.conftest import START, job_of, received_payment, run_until_idle

PENDING = StatusResult(Outcome.PENDING, raw_status="BILL_CREATED")
NOT_FOUND = StatusResult(Outcome.NOT_FOUND, raw_status="RECORD_NOT_FOUND")
SUCCEEDED = StatusResult(Outcome.SUCCEEDED, raw_status="PAYMENT_SUCCESSFUL")
FAILED = StatusResult(
    Outcome.FAILED, raw_status="Failure", reason="Amount mismatch", reason_codes=[{"errorCd": "BFR004"}]
)
A_DAY = START + dt.timedelta(days=2)


def _events(session, payment):
    session.expire_all()
    return list(session.scalars(sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id)))


def test_a_payment_still_processing_all_day_is_checked_on_the_exact_schedule_then_unresolved(
    session, make_engine, clock
):
    payment = received_payment(session, confirm_with="kaleidofin")
    asked_at = []
    partner = FakePartnerClient("kaleidofin", [PENDING], on_call=lambda _context: asked_at.append(clock.now()))
    engine = make_engine({"kaleidofin": partner})

    run_until_idle(engine, clock, until=A_DAY)

    assert asked_at == [START + offset for offset in check_offsets()]
    assert asked_at[:3] == [START + dt.timedelta(seconds=s) for s in (5, 10, 15)]
    assert asked_at[59:62] == [START + dt.timedelta(minutes=m) for m in (5, 10, 15)]
    assert asked_at[-1] == START + dt.timedelta(hours=24)
    job = job_of(session, payment)
    assert (job.state, job.attempts, job.outcome, job.finished_at) == (
        JobState.UNRESOLVED,
        347,
        "pending",
        START + dt.timedelta(hours=24),
    )
    session.refresh(payment)
    assert payment.status is PaymentStatus.UNRESOLVED
    assert "no final answer from kaleidofin within a day" in payment.status_reason
    assert payment.applied_to_bill is True
    assert [event.kind for event in _events(session, payment)] == ["unresolved"]
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboundCall)) == 347


def test_a_payment_the_partner_never_heard_of_by_the_end_of_the_day_is_unresolved(session, make_engine, clock):
    payment = received_payment(session, confirm_with="payu")
    partner = FakePartnerClient("payu", [NOT_FOUND])
    clock.set(START + dt.timedelta(hours=23, minutes=57))  # e.g. the workers were down most of the day

    run_until_idle(make_engine({"payu": partner}), clock, until=A_DAY)

    assert len(partner.calls) == 2  # 23:57 (overdue), then the last slot at 24:00
    job = job_of(session, payment)
    assert (job.state, job.outcome, job.finished_at) == (
        JobState.UNRESOLVED,
        "not_found",
        START + dt.timedelta(days=1),
    )
    session.refresh(payment)
    assert payment.status is PaymentStatus.UNRESOLVED
    assert "not_found (RECORD_NOT_FOUND)" in payment.status_reason


def test_success_on_the_third_check_confirms_the_payment_15_seconds_after_it(session, make_engine, clock):
    payment = received_payment(session, confirm_with="kaleidofin")
    partner = FakePartnerClient("kaleidofin", [PENDING, PENDING, SUCCEEDED])

    run_until_idle(make_engine({"kaleidofin": partner}), clock, until=A_DAY)

    job = job_of(session, payment)
    assert (job.state, job.attempts, job.outcome) == (JobState.DONE, 3, "succeeded")
    assert job.finished_at == START + dt.timedelta(seconds=15)
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED
    [event] = _events(session, payment)
    assert (event.kind, event.source, event.occurred_at) == (
        "confirmed",
        "kaleidofin:check",
        START + dt.timedelta(seconds=15),
    )


def test_a_failed_payment_is_reversed_on_its_bill(session, make_engine, clock):
    payment = received_payment(session, confirm_with="digiledge")
    bill = payment.bill
    assert bill.paid_paise == payment.amount_paise

    run_until_idle(make_engine({"digiledge": FakePartnerClient("digiledge", [FAILED])}), clock, until=A_DAY)

    session.refresh(payment)
    session.refresh(bill)
    assert payment.status is PaymentStatus.FAILED
    assert payment.reason_codes == [{"errorCd": "BFR004"}]
    assert payment.status_reason == "Amount mismatch"
    assert (bill.paid_paise, bill.status) == (0, BillStatus.OPEN)


def test_transport_errors_are_retried_on_the_same_schedule_with_the_same_request(session, make_engine, clock):
    payment = received_payment(session, confirm_with="payu")
    asked = []
    partner = FakePartnerClient(
        "payu",
        [
            PartnerUnavailable("timeout"),
            PartnerUnavailable("HTTP 503"),
            PartnerUnavailable("malformed JSON"),
            SUCCEEDED,
        ],
        on_call=lambda context: asked.append((clock.now(), context)),
    )

    run_until_idle(make_engine({"payu": partner}), clock, until=A_DAY)

    assert [at for at, _ in asked] == [START + dt.timedelta(seconds=s) for s in (5, 10, 15, 20)]
    assert all(context == asked[0][1] for _, context in asked)
    job = job_of(session, payment)
    # The answer after the errors clears the job's last error: it no longer describes the job.
    assert (job.state, job.last_error) == (JobState.DONE, None)
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_a_request_the_partner_rejects_stops_and_says_why(session, make_engine, clock):
    payment = received_payment(session, confirm_with="cashfree")
    partner = FakePartnerClient("cashfree", [PartnerRejectedRequest("cashfree: HTTP 400: Validation error")])

    run_until_idle(make_engine({"cashfree": partner}), clock, until=A_DAY)

    assert len(partner.calls) == 1
    job = job_of(session, payment)
    assert (job.state, job.outcome, job.last_error) == (
        JobState.STOPPED,
        "rejected",
        "cashfree: HTTP 400: Validation error",
    )
    session.refresh(payment)
    assert payment.status is PaymentStatus.UNRESOLVED
    assert payment.status_reason == "confirmation stopped: cashfree: HTTP 400: Validation error"


def test_a_partner_without_a_client_is_retried_and_recorded_until_it_is_configured(session, make_engine, clock):
    payment = received_payment(session, confirm_with="setu")
    engine = make_engine({})

    run_until_idle(engine, clock, until=START + dt.timedelta(seconds=12))

    job = job_of(session, payment)
    assert (job.state, job.attempts, job.outcome) == (JobState.PENDING, 2, "error")
    assert "no client for partner 'setu'" in job.last_error


def test_a_payment_settled_by_a_push_notification_meanwhile_ends_its_job(session, make_engine, clock):
    payment = received_payment(session, confirm_with="digiledge")
    engine = make_engine({"digiledge": FakePartnerClient("digiledge", [PENDING])})
    clock.set(START + dt.timedelta(seconds=5))
    engine.run_once()
    apply_payment_outcome(
        session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="digiledge:notification", now=clock.now()
    )
    session.flush()

    run_until_idle(engine, clock, until=A_DAY)

    job = job_of(session, payment)
    assert (job.state, job.outcome, job.attempts) == (JobState.DONE, "superseded", 2)
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_a_contradicting_answer_after_a_push_notification_flags_the_payment(session, make_engine, clock):
    payment = received_payment(session, confirm_with="digiledge")
    apply_payment_outcome(
        session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="digiledge:notification", now=START
    )
    session.flush()

    run_until_idle(make_engine({"digiledge": FakePartnerClient("digiledge", [FAILED])}), clock, until=A_DAY)

    session.refresh(payment)
    assert (payment.status, payment.flagged) == (PaymentStatus.CONFIRMED, True)
    assert [event.kind for event in _events(session, payment)] == ["confirmed", "outcome_contradicted"]


def test_an_answer_that_comes_after_the_lease_was_taken_over_is_discarded(session, make_engine, clock):
    payment = received_payment(session, confirm_with="kaleidofin")
    slow = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [FAILED])}, worker_id="slow", lease_seconds=30)
    other = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [SUCCEEDED])}, worker_id="other")
    clock.set(START + dt.timedelta(seconds=5))
    held = slow.claim()
    late_answer = slow.call(held)

    clock.advance(dt.timedelta(seconds=31))  # the slow worker's lease runs out
    assert other.run_once() is True
    slow.record(held, late_answer)

    job = job_of(session, payment)
    assert (job.state, job.outcome, job.attempts) == (JobState.DONE, "succeeded", 2)
    session.refresh(payment)
    assert (payment.status, payment.flagged) == (PaymentStatus.CONFIRMED, False)
    assert [event.kind for event in _events(session, payment)] == ["confirmed"]
    # Both calls happened and both are on record.
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboundCall)) == 2


def test_a_held_job_is_not_claimed_by_another_worker_before_its_lease_ends(session, make_engine, clock):
    received_payment(session, confirm_with="kaleidofin")
    first = make_engine({"kaleidofin": FakePartnerClient("kaleidofin")}, worker_id="first", lease_seconds=30)
    second = make_engine({"kaleidofin": FakePartnerClient("kaleidofin")}, worker_id="second")
    clock.set(START + dt.timedelta(seconds=5))

    assert first.claim() is not None
    clock.advance(dt.timedelta(seconds=29))
    assert second.claim() is None
    clock.advance(dt.timedelta(seconds=1))
    assert second.claim() is not None


def test_a_database_without_update_returning_claims_the_same_way(session, make_engine, clock, monkeypatch):
    # SQLite before 3.35 (Debian 11, Ubuntu 20.04) has no UPDATE ... RETURNING: the claim selects, then updates.
    monkeypatch.setattr(session.get_bind().dialect, "update_returning", False)
    payment = received_payment(session, confirm_with="kaleidofin")
    first = make_engine({"kaleidofin": FakePartnerClient("kaleidofin")}, worker_id="first", lease_seconds=30)
    second = make_engine({"kaleidofin": FakePartnerClient("kaleidofin")}, worker_id="second")
    clock.set(START + dt.timedelta(seconds=5))

    claimed = first.claim()

    assert claimed is not None and claimed.job_id == job_of(session, payment).id
    assert second.claim() is None
    session.expire_all()
    job = job_of(session, payment)
    assert (job.lease_owner, job.attempts, job.lease_expires_at) == ("first", 1, clock.now() + dt.timedelta(seconds=30))


def test_every_outbound_call_is_recorded_against_its_job_without_secrets(session, make_engine, clock, fake_partner):
    payment = received_payment(session, confirm_with="payu", partner_txn_ref="BBPS-REF-1")
    fake_partner.reply("POST", "/oauth/token", Reply(body=payloads.PAYU_TOKEN))
    fake_partner.reply("GET", "/v2/nbc/status/billpayment", Reply(status=503), Reply(body=payloads.PAYU_SUCCESS))
    client = PayUClient(
        base_url=fake_partner.url,
        token_url=f"{fake_partner.url}/oauth/token",
        client_id="payu-client",
        client_secret="payu-very-secret",
        timeouts=Timeouts(0.5, 0.5),
    )
    engine = make_engine({"payu": client})

    run_until_idle(engine, clock, until=A_DAY)
    client.close()

    job = job_of(session, payment)
    calls = list(
        session.scalars(sa.select(OutboundCall).where(OutboundCall.job_id == job.id).order_by(OutboundCall.id))
    )
    assert [(c.operation, c.method, c.response_status) for c in calls] == [
        ("token", "POST", 200),
        ("status", "GET", 503),
        ("status", "GET", 200),
    ]
    assert calls[1].url == f"{fake_partner.url}/v2/nbc/status/billpayment?refId=BBPS-REF-1"
    assert calls[1].error == "HTTP 503"
    assert [c.created_at for c in calls] == [START + dt.timedelta(seconds=s) for s in (5, 5, 10)]
    stored = " ".join(str(value) for c in calls for value in (c.url, c.request_body, c.response_body, c.error))
    assert "payu-very-secret" not in stored
    assert payloads.PAYU_TOKEN["access_token"] not in stored


# --- Kaleidofin answers per bill: a bill-level failure fails a BBPS payment only when it names the payment. ---


def _kaleidofin(fake_partner):
    return KaleidofinClient(status_url=f"{fake_partner.url}/status", timeouts=Timeouts(0.5, 0.5))


def test_a_bill_level_failure_that_does_not_name_the_payment_never_reverses_it(
    session, make_engine, clock, fake_partner
):
    payment = received_payment(session, confirm_with="kaleidofin", partner_bill_ref="15")
    bill = payment.bill
    fake_partner.reply("GET", "/status/15", Reply(body=payloads.kaleidofin_status_with("PAYMENT_FAILED")))
    clock.set(START + dt.timedelta(hours=23, minutes=55))
    client = _kaleidofin(fake_partner)

    run_until_idle(make_engine({"kaleidofin": client}), clock, until=A_DAY)
    client.close()

    assert len(fake_partner.received("GET", "/status/15")) == 2
    session.refresh(payment)
    session.refresh(bill)
    assert (payment.status, payment.applied_to_bill) == (PaymentStatus.UNRESOLVED, True)
    assert "last: pending (PAYMENT_FAILED)" in payment.status_reason
    assert bill.paid_paise == payment.amount_paise
    assert job_of(session, payment).state is JobState.UNRESOLVED


def test_a_bill_level_failure_naming_the_payments_receipt_fails_it(session, make_engine, clock, fake_partner):
    payment = received_payment(session, confirm_with="kaleidofin", partner_bill_ref="15")
    bill = payment.bill
    fake_partner.reply(
        "GET",
        "/status/15",
        Reply(body=payloads.kaleidofin_status_naming("PAYMENT_FAILED", receipt="R-ANOTHER-PAYMENT")),
        Reply(body=payloads.kaleidofin_status_naming("PAYMENT_FAILED", receipt=payment.receipt.receipt_number)),
    )
    client = _kaleidofin(fake_partner)

    run_until_idle(make_engine({"kaleidofin": client}), clock, until=A_DAY)
    client.close()

    assert len(fake_partner.received("GET", "/status/15")) == 2
    session.refresh(payment)
    session.refresh(bill)
    assert payment.status is PaymentStatus.FAILED
    assert (bill.paid_paise, bill.status) == (0, BillStatus.OPEN)


def test_a_bill_level_success_still_confirms_a_bbps_payment(session, make_engine, clock, fake_partner):
    payment = received_payment(session, confirm_with="kaleidofin", partner_bill_ref="15")
    fake_partner.reply("GET", "/status/15", Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL")))
    client = _kaleidofin(fake_partner)

    run_until_idle(make_engine({"kaleidofin": client}), clock, until=A_DAY)
    client.close()

    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED
