"""The engine and a person's decisions (issue 17): a recheck asks once, a decision ends the job a worker holds,
and the partners' settlement words are kept on the payment."""

import datetime as dt

import sqlalchemy as sa

from biller_server.clients.base import Outcome, StatusResult
from biller_server.clients.fake import FakePartnerClient
from biller_server.domain.payments.decisions import recheck_payment, resolve_payment
from biller_server.domain.payments.outcomes import mark_payment_unresolved
from biller_server.persistence.models import (
    Job,
    JobState,
    OutboundCall,
    PaymentEvent,
    PaymentStatus,
    SettlementState,
)
from tests.jobs.conftest import START, job_of, received_payment, run_until_idle

PENDING = StatusResult(Outcome.PENDING, raw_status="BILL_CREATED")
LATER = START + dt.timedelta(days=3)


def _unresolved(session, payment):
    job = job_of(session, payment)
    job.state, job.outcome, job.finished_at = JobState.UNRESOLVED, "pending", START
    mark_payment_unresolved(session=session, payment=payment, source="kaleidofin:check", reason="no answer", now=START)
    session.flush()


def test_kaleidofins_settlement_words_are_kept_with_the_confirmation(session, make_engine, clock):
    payment = received_payment(session, confirm_with="kaleidofin")
    partner = FakePartnerClient("kaleidofin", [StatusResult(Outcome.SUCCEEDED, raw_status="CREDIT_RECEIVED")])

    run_until_idle(make_engine({"kaleidofin": partner}), clock, until=LATER)

    session.refresh(payment)
    assert (payment.status, payment.settlement_state) == (PaymentStatus.CONFIRMED, SettlementState.CREDIT_RECEIVED)
    kinds = session.scalars(sa.select(PaymentEvent.kind).where(PaymentEvent.payment_id == payment.id)).all()
    assert kinds == ["settlement_credit_received", "confirmed"]


def test_a_recheck_of_an_unresolved_payment_asks_once_and_adds_no_day_of_checks(session, make_engine, clock):
    payment = received_payment(session, confirm_with="kaleidofin")
    _unresolved(session, payment)
    clock.set(LATER)
    partner = FakePartnerClient("kaleidofin", [PENDING])

    recheck = recheck_payment(session=session, payment_id=payment.id, by="asha", now=LATER)
    session.flush()
    run_until_idle(make_engine({"kaleidofin": partner}), clock, until=LATER + dt.timedelta(days=2))

    assert len(partner.calls) == 1
    job = session.get(Job, recheck.job_id)
    session.refresh(job)
    assert (job.state, job.outcome, job.attempts) == (JobState.DONE, "pending", 1)
    session.refresh(payment)
    assert payment.status is PaymentStatus.UNRESOLVED


def test_a_recheck_that_gets_a_final_answer_confirms_the_payment(session, make_engine, clock):
    payment = received_payment(session, confirm_with="kaleidofin")
    _unresolved(session, payment)
    clock.set(LATER)

    recheck_payment(session=session, payment_id=payment.id, by="asha", now=LATER)
    session.flush()
    succeeded = StatusResult(Outcome.SUCCEEDED, raw_status="PAYMENT_SUCCESSFUL")
    run_until_idle(make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [succeeded])}), clock, until=LATER)

    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_a_decision_ends_the_job_a_worker_holds_and_its_answer_is_discarded_but_its_call_kept(
    session, make_engine, clock
):
    payment = received_payment(session, confirm_with="kaleidofin")
    engine = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [StatusResult(Outcome.FAILED, "FAILED")])})
    clock.set(START + dt.timedelta(seconds=5))
    work = engine.claim()
    assert work is not None

    resolve_payment(
        session=session, payment_id=payment.id, decision="confirmed", note="bank statement", by="asha", now=clock.now()
    )
    session.flush()
    engine.record(work, engine.call(work))

    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED
    job = job_of(session, payment)
    assert (job.state, job.outcome) == (JobState.DONE, "decided")
    call = session.scalars(sa.select(OutboundCall).where(OutboundCall.job_id == job.id)).one()
    assert call.completed_at is not None
