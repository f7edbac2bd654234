"""Deliveries through the durable queue: at least once, never again once acknowledged, on the engine's schedule."""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.clients.base import PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.registry import PartnerClients
from biller_server.domain.deliveries import enqueue_delivery
from biller_server.jobs.deliveries import DeliveryEngine
from biller_server.persistence.models import Job, JobKind, JobState, OutboundCall
from tests.jobs.conftest import START


class RecordingReceiver:
    """A receiver whose answers the test scripts: "ack", "down" (retry) or "reject" (stop)."""

    name = "receiver"

    def __init__(self, answers):
        self.answers = list(answers)
        self.received = []

    def deliver(self, message, *, calls):
        from biller_server.clients.base import CallRecord

        self.received.append(message)
        calls.append(
            CallRecord(
                partner="receiver",
                operation=message.operation,
                method="POST",
                url="http://127.0.0.1/hook",
                request_body="{}",
                response_status=200,
            )
        )
        answer = self.answers.pop(0) if self.answers else "ack"
        if answer == "down":
            raise PartnerUnavailable("receiver: HTTP 503")
        if answer == "reject":
            raise PartnerRejectedRequest("receiver: HTTP 400: bad message")

    def close(self):
        pass


@pytest.fixture
def make_delivery_engine(bound_sessionmaker, clock):
    def make(receiver):
        return DeliveryEngine(
            sessions=bound_sessionmaker,
            clients=PartnerClients(clients={"receiver": receiver}),
            clock=clock,
            worker_id="test-delivery",
        )

    return make


def queue_message(session, body=None):
    job = enqueue_delivery(
        session=session,
        kind=JobKind.DELIVER_RESPONSE,
        receiver="receiver",
        operation="BillFetchResponse",
        body=body or {"refId": "R1"},
        now=START,
    )
    session.flush()
    return job


def reload(session, job):
    return session.scalars(sa.select(Job).where(Job.id == job.id).execution_options(populate_existing=True)).one()


def test_acknowledged_delivery_is_done_and_never_sent_again(session, clock, make_delivery_engine):
    receiver = RecordingReceiver(["ack"])
    engine = make_delivery_engine(receiver)
    job = queue_message(session, {"refId": "R1", "amount": "1000.00"})

    assert engine.run_once() is True
    assert engine.run_once() is False
    clock.advance(dt.timedelta(days=2))
    assert engine.run_once() is False
    assert [message.body for message in receiver.received] == [{"refId": "R1", "amount": "1000.00"}]
    job = reload(session, job)
    assert (job.state, job.outcome) == (JobState.DONE, "delivered")
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboundCall)) == 1


def test_failed_delivery_is_retried_on_the_schedule_with_the_same_message(session, clock, make_delivery_engine):
    receiver = RecordingReceiver(["down", "down", "ack"])
    engine = make_delivery_engine(receiver)
    job = queue_message(session)

    assert engine.run_once() is True
    assert reload(session, job).due_at == START + dt.timedelta(seconds=5)
    assert engine.run_once() is False  # not due yet
    clock.set(START + dt.timedelta(seconds=5))
    assert engine.run_once() is True
    assert reload(session, job).due_at == START + dt.timedelta(seconds=10)
    clock.set(START + dt.timedelta(seconds=10))
    assert engine.run_once() is True
    assert reload(session, job).state is JobState.DONE
    assert len({repr(message.body) for message in receiver.received}) == 1
    assert [message.attempt for message in receiver.received] == [1, 2, 3]


def test_rejected_delivery_stops_and_says_why(session, clock, make_delivery_engine):
    engine = make_delivery_engine(RecordingReceiver(["reject"]))
    job = queue_message(session)
    engine.run_once()
    job = reload(session, job)
    assert (job.state, job.outcome) == (JobState.STOPPED, "rejected")
    assert "bad message" in job.last_error


def test_delivery_nobody_acknowledges_for_a_day_is_left_for_a_person(session, clock, make_delivery_engine):
    receiver = RecordingReceiver(["down"] * 1000)
    engine = make_delivery_engine(receiver)
    job = queue_message(session)
    while reload(session, job).state is JobState.PENDING:
        clock.set(max(clock.now(), reload(session, job).due_at))
        engine.run_once()
    job = reload(session, job)
    assert (job.state, job.outcome) == (JobState.UNRESOLVED, "undelivered")
    # The first try at once, then every slot of the confirmation schedule (347 of them) until the day is over.
    assert len(receiver.received) == 1 + 347


def test_only_deliveries_can_be_queued_as_deliveries(session):
    with pytest.raises(ValueError, match="not a delivery"):
        enqueue_delivery(
            session=session, kind=JobKind.CONFIRM_PAYMENT, receiver="receiver", operation="x", body={}, now=START
        )
