"""The prescribed deployment, for real: deploy/nginx/biller-server.conf as shipped, in Debian's nginx, in front of
`biller-server serve` in production mode on PostgreSQL. Slow clients stay in nginx; whatever nginx refuses, the
partner still gets its channel's JSON shape and the inbound log records it.

nginx comes from Debian's package (.ci/run installs it when missing). Outside CI the module is skipped, saying
so, where nginx is not installed; under CI=true a missing nginx fails it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from biller_server.persistence.models import InboundMessage, Job, Payment
from tests.conftest import KALEIDOFIN_KEY, SETU_KEY
from tests.factories import BillFactory
from tests.fakes.setu_payloads import SETTLEMENT_NOTIFICATION, published
from tests.reliability.conftest import count, last_inbound, seed, written_rows
from tests.reliability.front_server import FrontServer, nginx_binary
from tests.reliability.live import PRODUCTION_ENV, LiveServer, free_port
from tests.reliability.wire import (
    MALFORMED_FRAMING,
    PARTNER_ENDPOINTS,
    UNREADABLE_REQUEST_LINES,
    Answer,
    assert_channel_shape,
    connect,
    exchange,
    over_the_cap,
    read_answer,
    request_head,
)

pytestmark = pytest.mark.slow

if nginx_binary() is None:
    if os.environ.get("CI"):
        pytest.fail("nginx is not installed: .ci/run installs it (apt-get install -y nginx)", pytrace=False)
    pytest.skip("nginx is not installed (apt-get install -y nginx) to test the front server", allow_module_level=True)

STALLED_CLIENTS = 200
FETCH_BILLS = b'[{"identifierKey": "customerId", "identifierValue": "FRONT-1"}]'


@pytest.fixture(scope="module")
def api(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("api") / "serve.log"
    env = {
        **PRODUCTION_ENV,
        "BILLER_TRUST_FORWARDED_FOR": "true",  # as docs/operations.md prescribes behind nginx
        "BILLER_CONSOLE_ENABLED": "true",
        "BILLER_CONSOLE_SECRET_KEY": "front-server-test-console-key-0123456789",
    }
    with LiveServer(module_database_url, log, workers=2, threads=8, with_worker=False, env=env) as live:
        yield live


@pytest.fixture(scope="module")
def engine(module_engine: Engine, api: LiveServer) -> Engine:
    seed(module_engine, lambda: BillFactory(customer__lender_customer_id="FRONT-1"))
    return module_engine


@pytest.fixture(scope="module")
def nginx(api: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontServer]:
    with FrontServer(api.port, tmp_path_factory.mktemp("nginx")) as front:
        yield front


def fetch_bills(port: int) -> Answer:
    return exchange(
        port,
        request_head("POST", "/bills/fetchBills", f"Content-Length: {len(FETCH_BILLS)}", key=KALEIDOFIN_KEY)
        + FETCH_BILLS,
    )


def test_two_hundred_stalled_clients_leave_every_other_caller_answered(nginx, engine):
    """Each stalled client sent its headers and part of its body: nginx holds them, the API never sees them."""
    before = count(engine, InboundMessage)
    stalled = [connect(nginx.port, timeout=30) for _ in range(STALLED_CLIENTS)]
    try:
        for sock in stalled:
            sock.sendall(request_head("POST", "/bills/fetchBills", "Content-Length: 100", key=KALEIDOFIN_KEY) + b"[")
        time.sleep(0.5)  # every stalled request has reached nginx

        # Answered while all 200 are held (nginx closes them only after client_body_timeout, 10 s).
        health = [requests.get(f"{nginx.base_url}/healthz", timeout=5) for _ in range(5)]
        fetches = [fetch_bills(nginx.port) for _ in range(5)]
        assert [response.status_code for response in health] == [200] * 5
        assert [answer.status for answer in fetches] == [200] * 5

        # The stalled clients are then dropped by nginx, without an answer, and never reached the API.
        cut = [read_answer(sock, started=time.monotonic()) for sock in stalled]
    finally:
        for sock in stalled:
            sock.close()
    assert all(answer.status is None and answer.closed for answer in cut)
    assert count(engine, InboundMessage) == before + 5  # the five fetches, none of the stalled requests


@pytest.mark.parametrize(("path", "key", "channel"), PARTNER_ENDPOINTS)
@pytest.mark.parametrize("framing", ["chunked", "Content-Length"])
def test_a_body_over_the_cap_is_refused_by_nginx_and_answered_in_the_channel_shape(
    nginx, engine, path, key, channel, framing
):
    before = written_rows(engine)

    answer = exchange(nginx.port, over_the_cap(path, key, framing))

    assert answer.status == 413
    assert_channel_shape(channel, answer)
    logged = last_inbound(engine)
    assert (logged.path, logged.status_code, logged.outcome) == (path, 413, "refused:payload-too-large")
    assert logged.headers.get("X-Biller-Edge-Refusal") == "413"
    assert written_rows(engine) == before


def test_the_console_upload_alone_may_send_a_bill_file_larger_than_a_partner_body(nginx, engine):
    """A megabyte passes nginx on the console's upload path: the console itself answers."""
    body = b"x" * (1 << 20)
    head = request_head("POST", "/console/uploads", "Content-Type: text/csv", f"Content-Length: {len(body)}")

    answer = exchange(nginx.port, head + body)

    assert answer.status == 400, answer  # the console's own page: the form has no CSRF token
    assert b"biller-server console" in answer.body
    assert exchange(nginx.port, over_the_cap("/bills/fetchBills", KALEIDOFIN_KEY, "Content-Length")).status == 413


@pytest.mark.parametrize(("path", "key", "channel"), PARTNER_ENDPOINTS)
@pytest.mark.parametrize(
    ("case", "status", "headers", "body"), MALFORMED_FRAMING, ids=[case[0] for case in MALFORMED_FRAMING]
)
def test_what_nginx_refuses_is_answered_in_the_channel_shape(
    nginx, engine, path, key, channel, case, status, headers, body
):
    before = written_rows(engine)

    answer = exchange(nginx.port, request_head("POST", path, *headers, key=key) + body)

    assert answer.status == status, answer
    assert_channel_shape(channel, answer)
    logged = last_inbound(engine)
    assert (logged.path, logged.status_code, logged.outcome[:8]) == (path, status, "refused:")
    assert written_rows(engine) == before


@pytest.mark.parametrize(("request_bytes", "status"), UNREADABLE_REQUEST_LINES, ids=["not HTTP", "a 10 KB line"])
def test_a_request_line_nginx_cannot_read_gets_the_generic_json_error(nginx, request_bytes, status):
    answer = exchange(nginx.port, request_bytes)

    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"code", "status", "message"}  # type: ignore[arg-type]


def test_a_client_cannot_pose_as_nginx_refusing_its_request(nginx, engine):
    head = request_head(
        "POST",
        "/bills/fetchBills",
        "X-Biller-Edge-Refusal: 413",
        f"Content-Length: {len(FETCH_BILLS)}",
        key=KALEIDOFIN_KEY,
    )

    answer = exchange(nginx.port, head + FETCH_BILLS)

    assert answer.status == 200
    assert "X-Biller-Edge-Refusal" not in last_inbound(engine).headers


def test_the_api_sees_the_partners_address_and_never_one_the_client_claims(nginx, engine):
    head = request_head(
        "POST",
        "/bills/fetchBills",
        "X-Forwarded-For: 203.0.113.9",
        f"Content-Length: {len(FETCH_BILLS)}",
        key=KALEIDOFIN_KEY,
    )

    answer = exchange(nginx.port, head + FETCH_BILLS, source="127.0.0.7")  # another loopback address

    assert answer.status == 200
    assert last_inbound(engine).source_address == "127.0.0.7"


def test_with_the_api_down_nginx_answers_json(api, tmp_path):
    with FrontServer(free_port(), tmp_path / "nginx") as nowhere:  # an upstream port where nothing listens
        answer = exchange(nowhere.port, request_head("POST", "/bills/fetchBills", "Content-Length: 2") + b"[]")

    assert answer.status == 503
    assert answer.json() == {  # type: ignore[comparison-overlap]
        "code": 503,
        "status": "service-unavailable",
        "message": "The service is temporarily unavailable; retry later.",
    }


def test_a_large_setu_settlement_passes_nginx_and_is_stored(nginx, engine):
    """Setu's notification endpoint has its own cap at nginx as at the API: a settlement of 10,000 bills is taken."""
    body = published(SETTLEMENT_NOTIFICATION)
    body["events"][0]["id"] = "front-server-settlement"
    body["events"][0]["data"]["platformBillIds"] = [f"FRONT{n:015d}" for n in range(10_000)]

    response = requests.post(
        f"http://127.0.0.1:{nginx.port}/setu/notifications", json=body, headers={"X-API-Key": SETU_KEY}, timeout=30
    )

    assert response.status_code == 200, response.text
    assert last_inbound(engine).outcome == "events:unmatched"


def test_setus_ref_id_header_reaches_the_api_through_nginx(nginx, engine):
    seed(engine, lambda: BillFactory(partner_bill_id="FRONT-SETU-1", amount_paise=1000))
    body = {
        "platformBillID": "FRONT-PB-1",
        "billerBillID": "FRONT-SETU-1",
        "paymentDetails": {
            "amountPaid": {"value": 1000, "currencyCode": "INR"},
            "platformTransactionRefID": "FRONT-PTR-1",
            "uniquePaymentRefID": "FRONT-UPR-1",
        },
    }
    headers = {"X-API-Key": SETU_KEY, "ref_id": "PP012305091019168458445744231291019"}

    response = requests.post(
        f"http://127.0.0.1:{nginx.port}/setu/bills/fetchReceipt", json=body, headers=headers, timeout=10
    )

    assert response.status_code == 200, response.text
    with Session(engine) as session:
        job = session.scalars(sa.select(Job).join(Payment).where(Payment.partner_txn_ref == "FRONT-UPR-1")).one()
    assert job.payload["setu_context"]["refId"] == "PP012305091019168458445744231291019"
