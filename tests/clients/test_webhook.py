"""The lender's webhook: signed so the receiver can check it (verified here with an independent implementation),
delivered at least once through the durable queue, retried on failure, stopped when the receiver refuses it."""

import datetime as dt
import hashlib
import hmac
import json

import pytest
import sqlalchemy as sa

from biller_server.clients.base import PartnerNotConfigured, PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.http import Timeouts
from biller_server.clients.outbound import OutboundMessage
from biller_server.clients.registry import PartnerClients, build_client
from biller_server.clients.webhook import WebhookClient
from biller_server.domain.deliveries import enqueue_delivery
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.deliveries import DeliveryEngine
from biller_server.persistence.models import Job, JobKind, JobState, OutboundCall
from tests.conftest import make_settings
from tests.fakes.server import Reply, server_error

SECRET = "whsec-test-0123456789abcdef"
START = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
BODY = {
    "id": "webhook:42:CONFIRMED",
    "type": "payment.confirmed",
    "payment": {"id": 42, "amount": "1250.50", "customer_name": "Ārya Śarmā ₹"},
}
TIMEOUTS = Timeouts(connect=0.5, read=0.5)


def verify(secret: str, header: str, raw_body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does, written from the documentation (docs/operations.md), not from the client's code."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(now - timestamp) > tolerance:
        return False
    signed = str(timestamp).encode() + b"." + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def message(body=BODY, *, attempt=1, job_id=7):
    return OutboundMessage(
        job_id=job_id,
        kind=JobKind.DELIVER_WEBHOOK,
        receiver="webhook",
        operation=body["type"],
        body=body,
        attempt=attempt,
        queued_at=START,
    )


@pytest.fixture
def client(fake_partner):
    client = WebhookClient(
        url=f"{fake_partner.url}/hooks/biller", secret=SECRET, timeouts=TIMEOUTS, clock=lambda: 1_793_620_800.7
    )
    yield client
    client.close()


def test_the_signature_verifies_over_the_exact_bytes_received(client, fake_partner):
    fake_partner.reply("POST", "/hooks/biller", Reply(status=200, body=""))
    calls = []

    client.deliver(message(), calls=calls)

    [request] = fake_partner.received("POST", "/hooks/biller")
    header = request.headers["x-biller-signature"]
    assert header.startswith("t=1793620800,v1=")
    assert verify(SECRET, header, request.body, now=1_793_620_800)
    assert json.loads(request.body) == BODY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-biller-event"] == "payment.confirmed"
    assert request.headers["x-biller-event-id"] == "webhook:42:CONFIRMED"
    assert request.headers["x-biller-delivery-attempt"] == "1"
    # A tampered body, another secret or an old timestamp do not verify.
    assert not verify(SECRET, header, request.body.replace(b"1250.50", b"9250.50"), now=1_793_620_800)
    assert not verify("another-secret", header, request.body, now=1_793_620_800)
    assert not verify(SECRET, header, request.body, now=1_793_620_800 + 301)
    assert SECRET not in json.dumps([vars(call) for call in calls])


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (server_error(), PartnerUnavailable),
        (Reply(status=429, body={"message": "slow down"}), PartnerUnavailable),
        (Reply(status=401, body={"message": "bad signature"}), PartnerUnavailable),
        (Reply(status=404, body="not here"), PartnerUnavailable),
        (Reply(status=200, body="", delay=1.0), PartnerUnavailable),  # no answer within the read timeout
        (Reply(status=400, body={"message": "unknown event type"}), PartnerRejectedRequest),
        (Reply(status=422, body={"message": "bad payload"}), PartnerRejectedRequest),
    ],
)
def test_answers_map_to_retry_or_stop(client, fake_partner, reply, error):
    fake_partner.reply("POST", "/hooks/biller", reply)

    with pytest.raises(error):
        client.deliver(message(), calls=[])


@pytest.mark.parametrize("status", [204, 200, 201, 202])
def test_any_2xx_is_an_acknowledgement(client, fake_partner, status):
    fake_partner.reply("POST", "/hooks/biller", Reply(status=status, body=""))
    calls = []

    client.deliver(message(attempt=3), calls=calls)

    # Acknowledged only after the receiver really got the signed event, once.
    [request] = fake_partner.received("POST", "/hooks/biller")
    assert json.loads(request.body) == BODY
    assert verify(SECRET, request.headers["x-biller-signature"], request.body, now=1_793_620_800)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-biller-event"] == "payment.confirmed"
    assert request.headers["x-biller-event-id"] == "webhook:42:CONFIRMED"
    assert request.headers["x-biller-delivery-attempt"] == "3"
    [call] = calls
    assert (call.operation, call.url, call.response_status, call.error) == (
        "payment.confirmed",
        f"{fake_partner.url}/hooks/biller",
        status,
        None,
    )


def test_events_are_never_sent_unsigned(fake_partner):
    client = WebhookClient(url=f"{fake_partner.url}/hooks/biller", secret=None, timeouts=TIMEOUTS)

    with pytest.raises(PartnerNotConfigured, match="BILLER_WEBHOOK_SECRET"):
        client.deliver(message(), calls=[])
    assert fake_partner.received() == []


def test_the_registry_builds_it_from_the_settings():
    settings = make_settings("sqlite://", webhook_url="https://lms.example/hooks/biller", webhook_secret=SECRET)
    client = build_client("webhook", settings)
    assert isinstance(client, WebhookClient)
    assert client.url == "https://lms.example/hooks/biller"
    client.close()


# Through the durable queue ---------------------------------------------------------------------------------------


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def delivery_engine(bound_sessionmaker, clock, fake_partner):
    client = WebhookClient(
        url=f"{fake_partner.url}/hooks/biller",
        secret=SECRET,
        timeouts=TIMEOUTS,
        clock=lambda: clock.now().timestamp(),
    )
    yield DeliveryEngine(
        sessions=bound_sessionmaker,
        clients=PartnerClients(clients={"webhook": client}),
        clock=clock,
        worker_id="test-webhook",
    )
    client.close()


def _queue(session):
    job = enqueue_delivery(
        session=session,
        kind=JobKind.DELIVER_WEBHOOK,
        receiver="webhook",
        operation="payment.confirmed",
        body=BODY,
        now=START,
        dedupe_key="webhook:42:CONFIRMED",
    )
    session.flush()
    return job


def _reload(session, job):
    return session.scalars(sa.select(Job).where(Job.id == job.id).execution_options(populate_existing=True)).one()


def test_a_failed_delivery_is_retried_on_the_schedule_then_acknowledged_once(
    session, delivery_engine, clock, fake_partner
):
    fake_partner.reply(
        "POST", "/hooks/biller", server_error(), Reply(status=429, body=""), Reply(status=200, body="ok")
    )
    job = _queue(session)

    assert delivery_engine.run_once() is True
    job = _reload(session, job)
    assert (job.state, job.due_at, job.outcome) == (JobState.PENDING, START + dt.timedelta(seconds=5), "error")
    assert "HTTP 503" in job.last_error
    assert delivery_engine.run_once() is False  # not due yet
    clock.set(START + dt.timedelta(seconds=5))
    assert delivery_engine.run_once() is True
    assert _reload(session, job).due_at == START + dt.timedelta(seconds=10)
    clock.set(START + dt.timedelta(seconds=10))
    assert delivery_engine.run_once() is True
    clock.advance(dt.timedelta(days=2))
    assert delivery_engine.run_once() is False  # acknowledged: never sent again

    job = _reload(session, job)
    assert (job.state, job.outcome, job.attempts) == (JobState.DONE, "delivered", 3)
    requests = fake_partner.received("POST", "/hooks/biller")
    assert len(requests) == 3
    assert len({request.body for request in requests}) == 1  # the same event every time
    for request, sent_at in zip(requests, (0, 5, 10), strict=True):
        now = int(START.timestamp()) + sent_at
        assert request.headers["x-biller-signature"].startswith(f"t={now},")  # a fresh signature per attempt
        assert verify(SECRET, request.headers["x-biller-signature"], request.body, now=now)
    assert [request.headers["x-biller-delivery-attempt"] for request in requests] == ["1", "2", "3"]
    calls = session.scalars(sa.select(OutboundCall).where(OutboundCall.job_id == job.id).order_by(OutboundCall.id))
    assert [(call.partner, call.response_status) for call in calls] == [
        ("webhook", 503),
        ("webhook", 429),
        ("webhook", 200),
    ]


def test_a_refused_event_stops_and_says_why(session, delivery_engine, fake_partner):
    fake_partner.reply("POST", "/hooks/biller", Reply(status=400, body={"message": "unknown event type"}))
    job = _queue(session)

    delivery_engine.run_once()

    job = _reload(session, job)
    assert (job.state, job.outcome) == (JobState.STOPPED, "rejected")
    assert "unknown event type" in job.last_error
