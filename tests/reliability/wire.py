"""Requests written byte by byte on a raw socket, for the framing no HTTP client library will send: chunked bodies
over the cap, Content-Length beside Transfer-Encoding, control characters in header values, stalled clients."""

from __future__ import annotations

import json
import socket
import time
from contextlib import suppress
from dataclasses import dataclass, field

from tests.conftest import PARTNER_ENDPOINTS, assert_channel_error

__all__ = ["PARTNER_ENDPOINTS"]  # with the key that opens each endpoint and its channel

# A fetchReceipt body Kaleidofin's page shows, valid but for the bill it names.
RECEIPT = (
    b'{"systemBillId": 14, "partnerBillId": "SAMPLE_ID", '
    b'"paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "T-WIRE-1"}}'
)


OVER_THE_CAP = RECEIPT + b" " * 100_000  # a valid body, then 100,000 spaces: 100 KB over a 64 KiB cap

# Request lines no server can read a path from, and the status each gets (the generic JSON error).
UNREADABLE_REQUEST_LINES = [
    (b"\x16\x03\x01\x02\x00 not http\r\n\r\n", 400),  # TLS handshake bytes
    (b"GET /bills/" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n", 414),
]


@dataclass
class Answer:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    closed: bool = False  # the server closed the connection after answering (or without answering)
    seconds: float = 0.0

    def json(self) -> object:
        return json.loads(self.body)


def request_head(method: str, path: str, *headers: str, key: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: biller.test"]
    if key is not None:
        lines += [f"X-API-Key: {key}", "Content-Type: application/json"]
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(body: bytes, size: int = 8192) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


# Malformed headers and framing: what each case is, the status it gets, its header lines, its body.
MALFORMED_FRAMING = [
    ("Content-Length with Transfer-Encoding", 400, ["Content-Length: 5", "Transfer-Encoding: chunked"], b"0\r\n\r\n"),
    ("CR in a header value", 400, ["X-Partner-Ref: a\rb", "Content-Length: 2"], b"{}"),
    ("NUL in a header value", 400, ["X-Partner-Ref: a\x00b", "Content-Length: 2"], b"{}"),
    ("obsolete line folding", 400, ["X-Partner-Ref: a", " folded", "Content-Length: 2"], b"{}"),
    ("a 20 KB header", 431, ["X-Partner-Ref: " + "a" * 20_000, "Content-Length: 2"], b"{}"),
    ("an invalid chunk size", 400, ["Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n"),
    ("an unknown transfer coding", 501, ["Transfer-Encoding: gzip, chunked"], chunked(b"{}")),
]


# Setu's settlement notifications have their own cap (BILLER_SETU_NOTIFICATION_MAX_BYTES, 1 MiB by default).
OVER_THE_NOTIFICATION_CAP = RECEIPT + b" " * (1024 * 1024 + 100_000)


def over_the_cap(path: str, key: str, framing: str) -> bytes:
    """A body over ``path``'s cap (OVER_THE_CAP; a notification's larger one), ``chunked`` or with its length."""
    body = OVER_THE_NOTIFICATION_CAP if path.endswith("/notifications") else OVER_THE_CAP
    if framing == "chunked":
        return request_head("POST", path, "Transfer-Encoding: chunked", key=key) + chunked(body)
    return request_head("POST", path, f"Content-Length: {len(body)}", key=key) + body


def exchange(
    port: int, data: bytes, *, timeout: float = 10, source: str | None = None, until_closed: bool = False
) -> Answer:
    """Send ``data`` at once and read the one answer (then, if asked, wait for the server to close)."""
    with connect(port, source=source, timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(data)
        return read_answer(sock, started=started, until_closed=until_closed)


def connect(port: int, *, source: str | None = None, timeout: float = 10) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source is not None:
        sock.bind((source, 0))  # another loopback address: a different client as the server sees it
    sock.connect(("127.0.0.1", port))
    return sock


def read_answer(sock: socket.socket, *, started: float, until_closed: bool = False) -> Answer:
    """Read one response (headers, then Content-Length bytes); with ``until_closed``, whether the server closes
    the connection within 2 s after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock)
        if not chunk:
            return Answer(None, closed=True, seconds=time.monotonic() - started)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = _recv(sock)
        if not chunk:
            break
        body += chunk
    seconds = time.monotonic() - started
    closed = False
    if until_closed:
        sock.settimeout(2)
        with suppress(TimeoutError):
            closed = _recv(sock) == b""
    return Answer(int(lines[0].split()[1]), headers, body[:length], closed, seconds)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def assert_channel_shape(channel: str, answer: Answer) -> None:
    assert answer.headers["content-type"] == "application/json", answer
    assert_channel_error(channel, answer.status, answer.json())
