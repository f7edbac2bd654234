"""What arrives on the wire, through `biller-server serve` alone (gunicorn, its workers, the real sockets), in
production mode on PostgreSQL: chunked bodies over the cap, malformed headers and framing, stalled and trickling
clients. Each gets a JSON answer in the channel's own shape, is in the inbound log, and writes nothing else."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from biller_server.persistence.models import Payment
from tests.conftest import KALEIDOFIN_KEY
from tests.factories import BillFactory
from tests.reliability.conftest import count, last_inbound, seed, written_rows
from tests.reliability.live import PRODUCTION_ENV, LiveServer
from tests.reliability.wire import (
    MALFORMED_FRAMING,
    OVER_THE_CAP,
    PARTNER_ENDPOINTS,
    RECEIPT,
    UNREADABLE_REQUEST_LINES,
    Answer,
    assert_channel_shape,
    chunked,
    connect,
    exchange,
    over_the_cap,
    read_answer,
    request_head,
)

pytestmark = pytest.mark.slow

# Short deadlines, so the stalled cases take a second each.
READ_TIMEOUT_SECONDS = 1
PRODUCTION = {
    **PRODUCTION_ENV,
    "BILLER_REQUEST_HEADER_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
    "BILLER_REQUEST_BODY_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
}


@pytest.fixture(scope="module")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("transport") / "serve.log"
    with LiveServer(module_database_url, log, workers=2, threads=8, with_worker=False, env=PRODUCTION) as live:
        yield live


@pytest.fixture(scope="module")
def engine(module_engine: Engine, server: LiveServer) -> Engine:
    return module_engine  # once the server has migrated the database


def assert_refused(engine: Engine, answer: Answer, status: int, channel: str, path: str, before: dict) -> None:
    """Answered in the channel's shape, the connection closed, the refusal logged, nothing else written."""
    assert answer.status == status, answer
    assert_channel_shape(channel, answer)
    assert answer.headers["connection"] == "close"
    assert answer.closed
    logged = last_inbound(engine)
    assert (logged.path, logged.status_code, logged.channel) == (path, status, channel)
    assert logged.outcome.startswith("refused:")
    assert written_rows(engine) == before


@pytest.mark.parametrize(("path", "key", "channel"), PARTNER_ENDPOINTS)
@pytest.mark.parametrize("framing", ["chunked", "Content-Length"])
def test_a_body_over_the_cap_is_413_in_the_channel_shape_whatever_its_framing(
    server, engine, path, key, channel, framing
):
    before = written_rows(engine)

    answer = exchange(server.port, over_the_cap(path, key, framing), until_closed=True)

    assert_refused(engine, answer, 413, channel, path, before)


def test_a_receipt_padded_past_the_cap_writes_no_payment_and_the_same_one_within_it_does(server, engine):
    seed(engine, lambda: BillFactory(partner_bill_id="SAMPLE_ID", amount_paise=100_000))
    head = request_head("POST", "/bills/fetchReceipt", "Transfer-Encoding: chunked", key=KALEIDOFIN_KEY)

    padded = exchange(server.port, head + chunked(OVER_THE_CAP))
    assert padded.status == 413
    assert count(engine, Payment) == 0

    plain = exchange(server.port, head + chunked(RECEIPT, size=7))  # many small chunks
    assert plain.status == 200, plain.body
    assert count(engine, Payment) == 1
    assert last_inbound(engine).body == RECEIPT  # the body as the app read it, chunks joined


@pytest.mark.parametrize(("path", "key", "channel"), PARTNER_ENDPOINTS)
@pytest.mark.parametrize(
    ("case", "status", "headers", "body"), MALFORMED_FRAMING, ids=[case[0] for case in MALFORMED_FRAMING]
)
def test_malformed_framing_gets_json_in_the_channel_shape(
    server, engine, path, key, channel, case, status, headers, body
):
    before = written_rows(engine)

    answer = exchange(server.port, request_head("POST", path, *headers, key=key) + body, until_closed=True)

    assert_refused(engine, answer, status, channel, path, before)


@pytest.mark.parametrize(("path", "key", "channel"), PARTNER_ENDPOINTS)
def test_a_stalled_body_is_cut_at_the_deadline_with_408_in_the_channel_shape(server, engine, path, key, channel):
    before = written_rows(engine)
    head = request_head("POST", path, "Content-Length: 100", key=key)

    answer = exchange(server.port, head + b'{"refId": "', until_closed=True)

    assert_refused(engine, answer, 408, channel, path, before)
    assert last_inbound(engine).error == "The request was not received in time."


@pytest.mark.parametrize(("path", "key", "channel"), PARTNER_ENDPOINTS[::2])
def test_stalled_headers_are_cut_at_the_deadline_with_408_in_the_path_channels_shape(
    server, engine, path, key, channel
):
    before = written_rows(engine)
    head = request_head("POST", path, key=key).removesuffix(b"\r\n")  # one header line short of the end

    answer = exchange(server.port, head, until_closed=True)

    assert_refused(engine, answer, 408, channel, path, before)


def test_the_body_deadline_counts_all_reads_so_a_trickling_client_gains_nothing(server, engine):
    """A byte every 0.2 s never leaves a gap as long as the deadline; the answer still comes at the deadline."""
    head = request_head("POST", "/bills/fetchBills", "Content-Length: 200", key=KALEIDOFIN_KEY)
    sent = 0
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(head)
        while sent < 200 and not select.select([sock], [], [], 0.2)[0]:
            sock.sendall(b" ")
            sent += 1
        answer = read_answer(sock, started=started)

    assert answer.status == 408
    # Answered long before the body could have been complete (200 bytes at 5 a second: 40 s).
    assert sent < 200
    assert_channel_shape("kaleidofin", answer)


@pytest.mark.parametrize(("request_bytes", "status"), UNREADABLE_REQUEST_LINES, ids=["not HTTP", "a 10 KB line"])
def test_a_request_line_that_cannot_be_read_gets_the_generic_json_error(server, request_bytes, status):
    answer = exchange(server.port, request_bytes, until_closed=True)

    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert isinstance(body, dict) and set(body) == {"code", "status", "message"} and body["code"] == status
    assert answer.closed


def test_a_kept_alive_connection_serves_one_request_after_another(server):
    request = request_head("GET", "/healthz")
    with connect(server.port) as sock:
        answers = []
        for _ in range(3):
            started = time.monotonic()
            sock.sendall(request)
            answers.append(read_answer(sock, started=started))

    assert [answer.status for answer in answers] == [200, 200, 200]
    assert all(answer.headers["connection"] == "keep-alive" for answer in answers)


def test_stalled_clients_hold_serves_threads_only_until_the_deadline(server):
    """More stalled bodies than the server has threads (2 workers x 8): every one is cut at its deadline, so the
    caller behind them is answered, once the deadline has passed (seconds, not the attacker's choice)."""
    stalled = [connect(server.port) for _ in range(40)]
    try:
        for sock in stalled:
            sock.sendall(request_head("POST", "/bills/fetchBills", "Content-Length: 100", key=KALEIDOFIN_KEY) + b"[")
        answer = exchange(server.port, request_head("GET", "/healthz"), timeout=30)
        cut = []
        for sock in stalled:
            cut.append(read_answer(sock, started=time.monotonic()).status)
    finally:
        for sock in stalled:
            sock.close()

    assert answer.status == 200
    assert cut == [408] * len(stalled)


# Hostile values in a body the server reads whole (issue 13, classes 1 and 4): what psycopg would have refused with
# a 500 is refused at the parse, in the channel's shape, however the body was framed.
HOSTILE_VALUES = [
    ("a lone surrogate", b'{"refId": "NL\\ud800", "status": "Successful", "ack": {"msgId": "M\\udfff"}}'),
    ("a lone surrogate in a list", b'[{"identifierKey": "customerId", "identifierValue": "AY\\ud800"}]'),
    ("a repeated key", b'{"refId": "R1", "refId": "R2", "status": "Successful", "status": "Failure"}'),
    ("a repeated nested key", b'[{"identifierKey": "customerId", "identifierKey": "mobile", "identifierValue": "1"}]'),
]


@pytest.mark.parametrize(("path", "key", "channel"), PARTNER_ENDPOINTS)
@pytest.mark.parametrize(("case", "body"), HOSTILE_VALUES, ids=[case for case, _ in HOSTILE_VALUES])
@pytest.mark.parametrize("framing", ["chunked", "Content-Length"])
def test_hostile_values_are_400_in_the_channel_shape_and_logged_as_sent(
    server, engine, path, key, channel, case, body, framing
):
    before = written_rows(engine)
    if framing == "chunked":
        request = request_head("POST", path, "Transfer-Encoding: chunked", key=key) + chunked(body, size=5)
    else:
        request = request_head("POST", path, f"Content-Length: {len(body)}", key=key) + body

    answer = exchange(server.port, request)

    assert answer.status == 400, answer
    assert_channel_shape(channel, answer)
    logged = last_inbound(engine)
    assert (logged.path, logged.status_code, logged.body) == (path, 400, body)
    assert written_rows(engine) == before


def test_nothing_the_attacker_sent_reached_a_traceback(server):
    # Last in this module (pytest keeps the file's order): by now every case above has gone through the server.
    logged = server.log_path.read_text()
    assert "Invalid request from ip=127.0.0.1" in logged  # gunicorn's warnings are in this log
    assert "Traceback" not in logged
