"""DigiledgeClient.deliver: the biller's responses posted to the BOU, and which answers count as acknowledged."""

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from biller_server.clients.base import PartnerNotConfigured, PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.digiledge import DigiledgeClient
from biller_server.clients.http import Timeouts
from biller_server.clients.outbound import OutboundMessage
from biller_server.clients.registry import PartnerClients, build_client
from biller_server.domain.deliveries import enqueue_delivery
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.deliveries import DeliveryEngine
from biller_server.persistence.models import Job, JobKind, JobState, OutboundCall
from tests.conftest import make_settings
from tests.fakes.digiledge_bou import ACKNOWLEDGED, FakeDigiledgeBou
from tests.fakes.server import Reply, closed_port_url, malformed_json, server_error

TIMEOUTS = Timeouts(connect=0.5, read=0.3)
KEY = "bou-outbound-key-0123456789"
START = dt.datetime(2026, 11, 23, 4, 45, tzinfo=dt.UTC)
BODY = {"refId": "HENSVVR4QOS7X1UGPY7JGUV444P10102202", "status": "Successful", "tenantId": "DGLG"}


@pytest.fixture
def bou():
    bou = FakeDigiledgeBou()
    yield bou
    bou.close()


@pytest.fixture
def client(bou):
    client = DigiledgeClient(
        payment_status_url=bou.payment_status_url,
        biller_id="LENDER000NAT01",
        bou_base_url=bou.url + "/",
        api_key=KEY,
        timeouts=TIMEOUTS,
    )
    yield client
    client.close()


def message(operation="BillFetchResponse", body=None):
    return OutboundMessage(
        job_id=1,
        kind=JobKind.DELIVER_RESPONSE,
        receiver="digiledge",
        operation=operation,
        body=body or BODY,
        attempt=1,
        queued_at=START,
    )


@pytest.mark.parametrize(
    "operation", ["BillFetchResponse", "BillValidationResponse", "BillPaymentResponse", "TxnStatusResponse"]
)
def test_response_is_posted_to_its_operation_under_the_base_url_with_the_key(client, bou, operation):
    calls = []

    client.deliver(message(operation), calls=calls)

    [request] = bou.server.received("POST", f"/{operation}")
    assert request.json() == BODY
    assert request.headers["x-api-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    [call] = calls
    assert (call.operation, call.url, call.response_status, call.error) == (
        operation,
        f"{bou.url}/{operation}",
        200,
        None,
    )


@pytest.mark.parametrize(
    "ack",
    [
        {"reason": "String", "code": 200, "status": "String"},
        {"reason": "ok", "code": "200", "status": "SUCCESS"},
        {"reason": "already received", "code": 208, "status": "DUPLICATE"},
        {"reason": "accepted", "code": 202, "status": "ACCEPTED"},
    ],
    ids=["integer-code", "string-code", "duplicate", "accepted"],
)
def test_a_2xx_acknowledgement_is_acknowledged(client, bou, ack):
    bou.answer("BillFetchResponse", Reply(body=ack))
    calls = []

    client.deliver(message(), calls=calls)

    # Acknowledged only after the BOU really got the message, once, with our key.
    [request] = bou.server.received("POST", "/BillFetchResponse")
    assert request.json() == BODY
    assert request.headers["x-api-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert bou.server.received("POST") == [request]
    [call] = calls
    assert (call.operation, call.url, call.response_status, call.error) == (
        "BillFetchResponse",
        f"{bou.url}/BillFetchResponse",
        200,
        None,
    )
    assert json.loads(call.request_body) == BODY and KEY not in call.request_body


@pytest.mark.parametrize(
    "reply",
    [
        server_error(),
        malformed_json(),
        Reply(body=""),
        Reply(body={"reason": "String", "status": "String"}),
        Reply(body={"reason": "String", "code": "Integer", "status": "String"}),
        Reply(body={"reason": "busy", "code": 503, "status": "FAILURE"}),
        Reply(body={"reason": "key expired", "code": 401, "status": "UNAUTHORISED"}),
        Reply(status=401, body={"reason": "key", "code": 401, "status": "UNAUTHORISED"}),
        Reply(status=429, body={"reason": "slow down", "code": 429, "status": "FAILURE"}),
        Reply(status=404, body={"message": "no route"}),
        Reply(body=ACKNOWLEDGED, delay=0.6),
        Reply(drop=True),
        Reply(body={"reason": "ok", "code": "\uff12\uff10\uff10", "status": "ACCEPTED"}),  # full-width 200
        Reply(body={"reason": "ok", "code": "\u0968\u0966\u0966", "status": "ACCEPTED"}),  # Devanagari 200
    ],
    ids=[
        "http-503",
        "malformed-json",
        "empty-body",
        "no-code",
        "placeholder-code",
        "code-503",
        "code-401",
        "http-401",
        "http-429",
        "http-404",
        "timeout",
        "dropped",
        "full-width-digits",
        "devanagari-digits",
    ],
)
def test_an_answer_that_is_no_acknowledgement_is_retried(client, bou, reply):
    bou.answer("BillFetchResponse", reply)
    calls = []
    with pytest.raises(PartnerUnavailable):
        client.deliver(message(), calls=calls)
    assert calls[-1].error


def test_a_bou_that_cannot_be_reached_is_retried():
    client = DigiledgeClient(payment_status_url=None, biller_id=None, bou_base_url=closed_port_url(), timeouts=TIMEOUTS)
    with pytest.raises(PartnerUnavailable):
        client.deliver(message(), calls=[])


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=400, body={"reason": "refId missing", "code": 400, "status": "FAILURE"}),
        Reply(status=422, body="unprocessable", content_type="text/plain"),
        Reply(body={"reason": "refId unknown", "code": 400, "status": "FAILURE"}),
        Reply(body={"reason": "invalid tenantId", "code": "422", "status": "INVALID"}),
    ],
    ids=["http-400", "http-422", "code-400", "string-code-422"],
)
def test_an_explicit_rejection_stops(client, bou, reply):
    bou.answer("BillFetchResponse", reply)
    calls = []
    with pytest.raises(PartnerRejectedRequest):
        client.deliver(message(), calls=calls)
    assert "rejected" in calls[-1].error


def test_without_a_base_url_nothing_is_sent():
    client = DigiledgeClient(payment_status_url=None, biller_id=None, timeouts=TIMEOUTS)
    with pytest.raises(PartnerNotConfigured, match="BILLER_DIGILEDGE_BOU_BASE_URL"):
        client.deliver(message(), calls=[])


def test_the_registry_builds_the_client_with_the_base_url_from_the_settings(sqlite_url):
    settings = make_settings(sqlite_url, digiledge_bou_base_url="https://bou.example/biller/")
    client = build_client("digiledge", settings)
    assert client.bou_base_url == "https://bou.example/biller"


def test_through_the_delivery_engine_a_rejection_stops_and_a_success_is_never_sent_again(
    bound_sessionmaker, session, client, bou
):
    bou.answer("BillFetchResponse", server_error(), Reply(body=ACKNOWLEDGED))
    bou.answer("TxnStatusResponse", Reply(status=400, body={"reason": "bad", "code": 400, "status": "FAILURE"}))
    fetch = enqueue_delivery(
        session=session,
        kind=JobKind.DELIVER_RESPONSE,
        receiver="digiledge",
        operation="BillFetchResponse",
        body=BODY,
        now=START,
    )
    status = enqueue_delivery(
        session=session,
        kind=JobKind.DELIVER_RESPONSE,
        receiver="digiledge",
        operation="TxnStatusResponse",
        body=BODY,
        now=START,
    )
    session.flush()
    clock = FakeClock(START)
    engine = DeliveryEngine(
        sessions=bound_sessionmaker,
        clients=PartnerClients(clients={"digiledge": client}),
        clock=clock,
        worker_id="test-deliveries",
    )

    while engine.run_once():
        pass
    clock.advance(dt.timedelta(seconds=5))
    while engine.run_once():
        pass
    clock.advance(dt.timedelta(days=2))
    assert engine.run_once() is False

    def reload(job):
        return session.scalars(sa.select(Job).where(Job.id == job.id).execution_options(populate_existing=True)).one()

    assert (reload(fetch).state, reload(fetch).outcome) == (JobState.DONE, "delivered")
    assert (reload(status).state, reload(status).outcome) == (JobState.STOPPED, "rejected")
    assert len(bou.delivered("BillFetchResponse")) == 2
    assert len(bou.delivered("TxnStatusResponse")) == 1
    calls = session.scalars(sa.select(OutboundCall).order_by(OutboundCall.id)).all()
    assert [call.response_status for call in calls if call.operation == "BillFetchResponse"] == [503, 200]
