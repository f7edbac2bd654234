"""The request as it arrives: the body guard, the read deadlines and the refusals, piece by piece.

Through real gunicorn and nginx: tests/reliability/test_transport.py and tests/reliability/test_front_server.py.
"""

import io
import socket
import tempfile
import threading
import time

import pytest
import sqlalchemy as sa
from gunicorn.http import errors

from biller_server.app import create_app
from biller_server.extensions import SETTINGS_KEY
from biller_server.http.gunicorn_worker import BoundedSocket, _request_line, refusal_for
from biller_server.http.transport import REFUSAL_KEY, LargerBody, ReadDeadlineExceeded, RequestBodyGuard, larger_body
from biller_server.persistence.models import InboundMessage
from tests.conftest import make_settings
from tests.http.test_hostile_input import ENDPOINTS, assert_channel_shape, written_rows

CAP = 1024


class Seen:
    """A WSGI app that records the environ and body it was given."""

    def __call__(self, environ, start_response):
        self.environ = environ
        self.body = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b""]


class Stream(io.BytesIO):
    """A gunicorn-like body stream: it has the ``failed`` flag gunicorn reads before reusing a connection."""

    failed = False


def guarded(body: bytes, **environ):
    app = Seen()
    stream = Stream(body)
    environ = {"wsgi.input": stream, "REQUEST_METHOD": "POST", **environ}
    list(RequestBodyGuard(app, max_bytes=CAP)(environ, lambda *args: None))
    return app, stream


CHUNKED = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}


def test_a_chunked_body_within_the_cap_reaches_the_app_whole_with_its_length():
    app, _ = guarded(b"x" * CAP, **CHUNKED)

    assert app.body == b"x" * CAP
    assert app.environ["CONTENT_LENGTH"] == str(CAP)
    assert "HTTP_TRANSFER_ENCODING" not in app.environ
    assert REFUSAL_KEY not in app.environ


def test_a_chunked_body_one_byte_over_the_cap_is_refused_and_the_connection_given_up():
    app, stream = guarded(b"x" * (CAP + 1), **CHUNKED)

    assert app.environ[REFUSAL_KEY].http_status == 413
    assert app.body == b""
    assert stream.failed  # gunicorn closes the connection instead of reading the rest


def test_a_content_length_over_the_cap_is_refused_without_reading_the_body():
    app, stream = guarded(b"x" * 10, CONTENT_LENGTH=str(CAP + 1))

    assert app.environ[REFUSAL_KEY].http_status == 413
    assert stream.tell() == 0


LARGER_PATH = "/console/uploads"


def guarded_larger(body: bytes, path: str = LARGER_PATH, method: str = "POST", **environ):
    """The guard with one path allowed 3 x CAP (as the console's upload path is)."""
    app = Seen()
    guard = RequestBodyGuard(app, max_bytes=CAP)
    guard.larger[LARGER_PATH] = LargerBody(3 * CAP, 300.0)
    environ = {"wsgi.input": Stream(body), "REQUEST_METHOD": method, "PATH_INFO": path, **environ}
    list(guard(environ, lambda *args: None))
    if isinstance(app.environ["wsgi.input"], tempfile.SpooledTemporaryFile):
        app.environ["wsgi.input"].close()  # the app's teardown does this (init_transport)
    return app


@pytest.mark.parametrize("framing", [{"CONTENT_LENGTH": str(3 * CAP)}, CHUNKED])
def test_a_path_allowed_a_larger_body_takes_it_whole_from_disk_backed_storage(framing):
    app = guarded_larger(b"y" * (3 * CAP), **framing)

    assert REFUSAL_KEY not in app.environ
    assert app.body == b"y" * (3 * CAP) and app.environ["CONTENT_LENGTH"] == str(3 * CAP)


@pytest.mark.parametrize("framing", [{"CONTENT_LENGTH": str(3 * CAP + 1)}, CHUNKED])
def test_a_path_allowed_a_larger_body_still_has_a_cap(framing):
    app = guarded_larger(b"y" * (3 * CAP + 1), **framing)

    assert app.environ[REFUSAL_KEY].http_status == 413


@pytest.mark.parametrize(
    ("path", "method"), [("/bills/fetchReceipt", "POST"), ("/console/uploads/other", "POST"), (LARGER_PATH, "PUT")]
)
def test_every_other_path_and_method_keeps_the_partner_cap(path, method):
    app = guarded_larger(b"y" * (CAP + 1), path=path, method=method, CONTENT_LENGTH=str(CAP + 1))

    assert app.environ[REFUSAL_KEY].http_status == 413


def test_serve_gives_the_larger_path_its_own_body_deadline(app):
    url = app.extensions[SETTINGS_KEY].database_url
    settings = make_settings(url, console_enabled=True, console_secret_key="k" * 40, console_upload_timeout_seconds=42)
    with_console = create_app(settings)

    assert larger_body(with_console, "/console/uploads") == LargerBody(50 * 1024 * 1024, 42.0)
    assert larger_body(with_console, "/bills/fetchReceipt") is None
    assert larger_body(app, "/console/uploads") is None  # the console off: no path takes more


def test_a_body_shorter_than_its_content_length_is_refused():
    app, _ = guarded(b"[1, 2", CONTENT_LENGTH="10")

    assert app.environ[REFUSAL_KEY].http_status == 400
    assert app.environ[REFUSAL_KEY].message == "The request body ended before its declared length."


def test_a_transfer_coding_other_than_chunked_is_refused():
    app, _ = guarded(b"\x1f\x8b", HTTP_TRANSFER_ENCODING="gzip, chunked", **{"wsgi.input_terminated": True})

    assert app.environ[REFUSAL_KEY].http_status == 501


def test_a_body_read_past_its_deadline_is_refused_with_408():
    class Late(Stream):
        def read(self, size=-1):
            raise ReadDeadlineExceeded()

    app = Seen()
    environ = {"wsgi.input": Late(), "CONTENT_LENGTH": "5", "REQUEST_METHOD": "POST"}
    list(RequestBodyGuard(app, max_bytes=CAP)(environ, lambda *args: None))

    assert app.environ[REFUSAL_KEY].http_status == 408


def test_a_request_without_a_body_is_left_alone():
    app, _ = guarded(b"")

    assert REFUSAL_KEY not in app.environ
    assert "CONTENT_LENGTH" not in app.environ


def test_a_trickling_sender_meets_one_deadline_over_all_its_reads():
    ours, theirs = socket.socketpair()
    bounded = BoundedSocket.adopt(ours)
    bounded.setblocking(True)
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.05):  # a byte every 50 ms: never a gap as long as the deadline
            theirs.sendall(b"x")

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        bounded.start_phase(0.3)
        started = time.monotonic()
        received = 0
        with pytest.raises(ReadDeadlineExceeded):
            while True:
                received += len(bounded.recv(1))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        sender.join()
        bounded.close()
        theirs.close()

    assert received > 0  # bytes did arrive; the deadline is on the whole phase, not on each read
    assert elapsed < 2


def test_between_phases_reads_are_not_bounded():
    ours, theirs = socket.socketpair()
    bounded = BoundedSocket.adopt(ours)
    bounded.setblocking(True)
    try:
        bounded.start_phase(0.01)
        bounded.end_phase()
        time.sleep(0.05)
        theirs.sendall(b"late but fine")
        assert bounded.recv(100) == b"late but fine"
    finally:
        bounded.close()
        theirs.close()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ReadDeadlineExceeded(), 408),
        (errors.InvalidHeader("X-A"), 400),
        (errors.ObsoleteFolding("X-A"), 400),
        (errors.InvalidRequestLine("GARBAGE"), 400),
        (errors.LimitRequestLine(9000, 4094), 414),
        (errors.LimitRequestHeaders("too large"), 431),
        (errors.InvalidChunkSize("zz"), 400),
        (errors.UnsupportedTransferCoding("gzip"), 501),
        (errors.ExpectationFailed("200-ok"), 417),
    ],
)
def test_what_gunicorn_refuses_maps_to_a_status(error, status):
    refusal = refusal_for(error)
    assert refusal is not None and refusal.http_status == status


def test_an_error_of_the_apps_own_answer_is_not_the_clients_fault():
    assert refusal_for(errors.InvalidResponseHeader("X-Bad")) is None
    assert refusal_for(RuntimeError("bug")) is None


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"POST /bills/fetchBills HTTP/1.1\r\nHost: x\r\nX-A: \x00", ("POST", "/bills/fetchBills")),
        (b"POST /digiledge/fetch?x=1 HTTP/1.1\r\n", ("POST", "/digiledge/fetch")),
        (b"POST http://host/bills/fetchBills HTTP/1.1\r\n", ("POST", "/bills/fetchBills")),
        (b"\x16\x03\x01 garbage", ("GET", "/")),
        (b"", ("GET", "/")),
    ],
)
def test_the_path_of_a_request_whose_headers_failed_is_read_from_its_first_line(head, expected):
    assert _request_line(head) == expected


@pytest.mark.parametrize(("path", "headers", "channel"), [ENDPOINTS[0], ENDPOINTS[2]])
@pytest.mark.parametrize("status", [400, 413, 431, 501])
def test_a_refusal_by_the_front_server_is_answered_in_the_channel_shape_and_logged(
    client, session, path, headers, channel, status
):
    before = written_rows(session)

    # As nginx re-asks: no credentials, no body, the refused status in X-Biller-Edge-Refusal.
    response = client.post(path, headers={"X-Biller-Edge-Refusal": str(status)})

    assert response.status_code == status
    assert_channel_shape(channel, response)
    assert written_rows(session) == before
    logged = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert logged.status_code == status and logged.outcome.startswith("refused:")


@pytest.mark.parametrize("value", ["200", "408", "999", "abc", "", "4" * 5000])
def test_any_other_refusal_value_is_ignored(client, value):
    response = client.post("/bills/fetchBills", json=[], headers={"X-Biller-Edge-Refusal": value})

    assert response.status_code == 401  # the request went on to authentication as usual


def test_a_closed_connection_lingers_on_its_own_thread_and_then_never_blocks_gunicorns_main_thread():
    ours, theirs = socket.socketpair()
    bounded = BoundedSocket.adopt(ours)
    bounded.setblocking(True)
    try:
        theirs.sendall(b"the rest of a refused body")  # and the client never closes

        bounded.linger(seconds=0.2)  # drains what came, for at most that long

        assert theirs.recv(10) == b""  # we half-closed: the client sees the end of our answer
        bounded.settimeout(5)
        # gunicorn's lingering close (on its main thread) reads next: it gets the end at once, where a plain socket
        # would wait for this client, which never closes, until the timeout.
        assert bounded.recv(4096) == b""
    finally:
        bounded.close()
        theirs.close()
