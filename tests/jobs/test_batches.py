"""A worker process's threads claim confirmations several at a time and record their answers together: the same
outcomes as one job at a time, and nothing stuck or lost when a process dies or stops holding a batch."""

import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa

from biller_server.clients.base import Outcome, StatusResult
from biller_server.clients.fake import FakePartnerClient
from biller_server.jobs.engine import ConfirmationBatch, ConfirmationEngine
from biller_server.persistence.models import JobState, OutboundCall, PaymentStatus
from tests.jobs.conftest import START, job_of, received_payment, run_until_idle

SUCCEEDED = StatusResult(Outcome.SUCCEEDED, raw_status="PAYMENT_SUCCESSFUL")
LATER = START + dt.timedelta(minutes=10)


def _payments(session, count, *, spaced=dt.timedelta(0)):
    return [received_payment(session, confirm_with="kaleidofin", now=START + n * spaced) for n in range(count)]


def _statuses(session, payments):
    session.expire_all()
    return [payment.status for payment in payments]


def test_a_batch_claim_takes_the_most_overdue_jobs_each_under_its_own_lease(session, make_engine, clock):
    payments = _payments(session, 3, spaced=dt.timedelta(seconds=1))
    first = make_engine({"kaleidofin": FakePartnerClient("kaleidofin")}, worker_id="first", lease_seconds=30)
    second = make_engine({"kaleidofin": FakePartnerClient("kaleidofin")}, worker_id="second")
    clock.set(LATER)

    claimed = first.claim_many(2)

    assert [work.job_id for work in claimed] == [job_of(session, payment).id for payment in payments[:2]]
    session.expire_all()
    for payment in payments[:2]:
        job = job_of(session, payment)
        assert (job.lease_owner, job.attempts, job.lease_expires_at) == ("first", 1, LATER + dt.timedelta(seconds=30))
    [other] = second.claim_many(2)
    assert other.job_id == job_of(session, payments[2]).id


def test_answers_handed_in_by_several_threads_are_recorded_together_by_whichever_claims_next(
    session, make_engine, clock
):
    payments = _payments(session, 2)
    batch = ConfirmationBatch(2)
    partner = FakePartnerClient("kaleidofin", [SUCCEEDED])
    thread_0 = make_engine({"kaleidofin": partner}, worker_id="host:1/0", batch=batch)
    thread_1 = make_engine({"kaleidofin": partner}, worker_id="host:1/1", batch=batch)
    clock.set(LATER)

    assert thread_0.run_once() is True  # claims both, calls for the first
    assert thread_1.run_once() is True  # takes the second, claimed by thread 0
    assert _statuses(session, payments) == [PaymentStatus.RECEIVED] * 2  # answers in hand, not yet recorded
    assert thread_1.run_once() is False  # nothing left to claim: records both answers first

    assert _statuses(session, payments) == [PaymentStatus.CONFIRMED] * 2
    for payment in payments:
        job = job_of(session, payment)
        assert (job.state, job.attempts, job.lease_owner) == (JobState.DONE, 1, None)


def test_a_process_that_dies_holding_a_batch_loses_nothing(session, make_engine, clock):
    payments = _payments(session, 3)
    batch = ConfirmationBatch(3)
    doomed = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [SUCCEEDED])}, worker_id="doomed", batch=batch)
    clock.set(LATER)
    assert doomed.run_once() is True  # three claimed, one answered; then the process is killed (nothing settled)

    clock.advance(dt.timedelta(seconds=61))  # the leases run out
    survivor = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [SUCCEEDED])}, worker_id="survivor")
    run_until_idle(survivor, clock, until=LATER + dt.timedelta(minutes=5))

    assert _statuses(session, payments) == [PaymentStatus.CONFIRMED] * 3
    assert [job_of(session, payment).attempts for payment in payments] == [2, 2, 2]
    # The dead process's call was written down before it was sent, and stays without its answer.
    unanswered = session.scalars(sa.select(OutboundCall).where(OutboundCall.completed_at.is_(None))).all()
    assert [call.job_id for call in unanswered] == [job_of(session, payments[0]).id]


def test_a_stopping_worker_records_its_answers_and_gives_back_the_jobs_it_never_called(session, make_engine, clock):
    payments = _payments(session, 3)
    batch = ConfirmationBatch(3)
    stopping = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [SUCCEEDED])}, worker_id="stop", batch=batch)
    other = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [SUCCEEDED])}, worker_id="other")
    clock.set(LATER)
    assert stopping.run_once() is True

    stopping.settle()

    assert _statuses(session, payments) == [PaymentStatus.CONFIRMED, PaymentStatus.RECEIVED, PaymentStatus.RECEIVED]
    for payment in payments[1:]:
        job = job_of(session, payment)
        assert (job.state, job.attempts, job.lease_owner, job.lease_expires_at) == (JobState.PENDING, 0, None, None)
    # Free at once, not after a lease: another worker takes them now.
    assert [work.job_id for work in other.claim_many(5)] == [job_of(session, p).id for p in payments[1:]]


def test_an_answer_the_books_refuse_holds_back_no_other_answer_of_its_batch(session, make_engine, clock, monkeypatch):
    payments = _payments(session, 2)
    refused = job_of(session, payments[0]).id
    apply = ConfirmationEngine._apply

    def refuse_one(self, session_, job, payment, work, outcome, now):
        if job.id == refused:
            raise RuntimeError("a bug in recording this one answer")
        apply(self, session_, job, payment, work, outcome, now)

    monkeypatch.setattr(ConfirmationEngine, "_apply", refuse_one)
    batch = ConfirmationBatch(2)
    engine = make_engine({"kaleidofin": FakePartnerClient("kaleidofin", [SUCCEEDED])}, batch=batch)
    clock.set(LATER)
    assert engine.run_once() is True
    assert engine.run_once() is True

    with pytest.raises(RuntimeError, match="this one answer"):
        engine.settle()

    assert _statuses(session, payments) == [PaymentStatus.RECEIVED, PaymentStatus.CONFIRMED]
    job = job_of(session, payments[0])
    assert (job.state, job.lease_owner) == (JobState.PENDING, "test-worker")  # asked again when the lease runs out


def test_jobs_claimed_for_the_batch_wake_an_idle_thread_before_its_poll_interval_ends():
    """Otherwise the thread that claimed them would call them one after the other while its siblings sleep."""
    batch = ConfirmationBatch(2)
    woken = threading.Event()

    def idle_thread():
        batch.wait_for_work(timeout=60)
        woken.set()

    waiting = threading.Thread(target=idle_thread, daemon=True)
    waiting.start()
    while not batch.arrived._waiters:  # the thread is waiting on the batch
        time.sleep(0.001)
    batch.add_claimed([object(), object()])

    assert woken.wait(timeout=30), "the idle thread slept through jobs claimed for it"
    assert len(batch.claimed) == 2  # waking takes nothing: the woken thread takes its job itself


def test_a_stop_ends_an_idle_threads_wait_for_work():
    batch = ConfirmationBatch(2)
    woken = threading.Event()
    waiting = threading.Thread(target=lambda: (batch.wait_for_work(timeout=60), woken.set()), daemon=True)
    waiting.start()
    while not batch.arrived._waiters:
        time.sleep(0.001)

    batch.wake_all()

    assert woken.wait(timeout=30)
