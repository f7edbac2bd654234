"""serve's gunicorn worker: gthread, with a deadline on every request's headers and body, and JSON refusals.

gunicorn's own gthread worker waits as long as a client likes for the rest of a request's headers or body, one
thread held per stalled connection, and answers what it cannot parse (a NUL in a header, Content-Length beside
Transfer-Encoding, an obsolete line folding) with an HTML page. This worker:

- gives each request ``BILLER_REQUEST_HEADER_TIMEOUT_SECONDS`` for its headers and then
  ``BILLER_REQUEST_BODY_TIMEOUT_SECONDS`` for its body, each counted from its first read and over all the reads
  (a client trickling a byte at a time gains nothing); a late request gets 408;
- answers what gunicorn refuses through the app itself (biller_server/http/transport.py), so the partner gets its
  channel's JSON error shape and the refusal is in the inbound log;
- closes a finished connection's lingering read (RFC 9112 9.6) on the request's thread, where gunicorn does it on
  its main thread: there each client that never closes its side stopped the whole worker for 2 s.

Threads are still held for up to those deadlines: a host facing many slow clients needs the buffering front server
of deploy/nginx/biller-server.conf (docs/operations.md).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.test import EnvironBuilder, run_wsgi_app

from biller_server.extensions import SETTINGS_KEY
from biller_server.http.errors import GENERIC_CODES
from biller_server.http.transport import (
    EXPECTATION_FAILED,
    HEADERS_TOO_LARGE,
    MALFORMED,
    MALFORMED_BODY,
    REFUSAL_KEY,
    TOO_SLOW,
    UNSUPPORTED_CODING,
    URI_TOO_LONG,
    ReadDeadlineExceeded,
    TransportRefusal,
    larger_body,
)

# The start of a request as received, kept to answer in the path's channel shape when its headers fail to parse.
_HEAD_BYTES = 4096
_REQUEST_LINE = re.compile(rb"^([A-Z]{3,20}) (\S{1,2048}) HTTP/")


def _static_answer(status: int, reason: str) -> bytes:
    """An answer written without the app (when the app itself failed), in the generic error shape."""
    code, message = GENERIC_CODES[status]
    body = json.dumps({"code": status, "status": code, "message": message}).encode()
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


_STATIC_500 = _static_answer(500, "Internal Server Error")


class BoundedSocket(socket.socket):
    """A client connection whose reads share one deadline per phase: a request's headers, then its body."""

    _phase_seconds: float | None = None
    _deadline: float | None = None
    _lingered = False
    head: bytes = b""

    @classmethod
    def adopt(cls, sock: socket.socket) -> BoundedSocket:
        bounded = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        bounded.setblocking(False)  # as gunicorn left it: the worker's poller owns it between requests
        return bounded

    def start_phase(self, seconds: float, *, keep_head: bool = False) -> None:
        """The next reads must all be done within ``seconds`` of the first of them."""
        self._phase_seconds, self._deadline = seconds, None
        if keep_head:
            self.head = b""

    def end_phase(self) -> None:
        self._phase_seconds = self._deadline = None

    def linger(self, seconds: float = 2.0, max_bytes: int = 64 * 1024) -> None:
        """Half-close, then read what the client still sends for a moment, so that closing sends it no RST that
        could cut off our answer (RFC 9112 9.6). Done here, on the request's thread: gunicorn would do it on its
        main thread, where each client that never closes would stop the whole worker for 2 s. Reads end here."""
        with suppress(OSError):
            self.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + seconds, 0
            while drained < max_bytes and (remaining := deadline - time.monotonic()) > 0:
                self.settimeout(remaining)
                data = super().recv(4096)
                if not data:
                    break
                drained += len(data)
        self._lingered = True

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self._lingered:
            return b""  # gunicorn's own lingering close, on its main thread, then closes at once
        if self._phase_seconds is None:
            return super().recv(size, flags)
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._phase_seconds
        remaining = self._deadline - now
        if remaining <= 0:
            raise ReadDeadlineExceeded()
        self.settimeout(remaining)
        try:
            data = super().recv(size, flags)
        except TimeoutError as exc:
            raise ReadDeadlineExceeded() from exc
        finally:
            self.settimeout(None)
        if len(self.head) < _HEAD_BYTES:
            self.head += data[: _HEAD_BYTES - len(self.head)]
        return data


class BoundedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker with read deadlines and refusals in the channel's shape (see the module doc)."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.biller_app = self.wsgi
        self.wsgi = self._serve
        settings = getattr(self.biller_app, "extensions", {}).get(SETTINGS_KEY)
        if settings is not None:
            self.header_timeout = settings.request_header_timeout_seconds
            self.body_timeout = settings.request_body_timeout_seconds

    def _serve(self, environ: dict[str, Any], start_response: Any) -> Any:
        result = self.biller_app(environ, start_response)
        if REFUSAL_KEY in environ:
            # Whatever the client sends after a refused request (the rest of a late or oversized body) cannot be
            # read as a next request: answer with Connection: close. start_response is gunicorn's Response's.
            response = getattr(start_response, "__self__", None)
            if hasattr(response, "force_close"):
                response.force_close()
        return result

    def enqueue_req(self, conn: Any) -> None:
        # TLS (rare here: the front server or balancer terminates it) wraps the socket later; it is left as is.
        if not isinstance(conn.sock, BoundedSocket) and not conn.initialized and not self.cfg.is_ssl:
            conn.sock = BoundedSocket.adopt(conn.sock)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        sock = conn.sock
        if not isinstance(sock, BoundedSocket):
            return super().handle(conn)
        sock.start_phase(self.header_timeout, keep_head=True)
        try:
            keep = super().handle(conn)
        finally:
            sock.end_phase()
        if keep is False:
            sock.linger()  # the connection is done: gunicorn closes it next
        return keep

    def handle_request(self, req: Any, conn: Any) -> Any:
        sock = conn.sock
        if not isinstance(sock, BoundedSocket):
            return super().handle_request(req, conn)
        # A path allowed a larger body (the console's file upload) has its own, longer deadline for it.
        larger = larger_body(self.biller_app, req.path) if req.method == "POST" else None
        sock.start_phase(larger.timeout_seconds if larger is not None else self.body_timeout)
        try:
            return super().handle_request(req, conn)
        finally:
            sock.end_phase()  # what follows (draining an unread body) has gunicorn's own deadline

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        try:
            answer = self._refusal_answer(req, client, addr, exc)
        except Exception:
            self.log.exception("could not answer a refused request through the app")
            answer = _STATIC_500
        _write(client, answer)

    def _refusal_answer(self, req: Any, client: Any, addr: Any, exc: BaseException) -> bytes:
        refusal = refusal_for(exc)
        if refusal is None:
            self.log.exception("Error handling request")
            return _STATIC_500
        source = (addr or ("", -1))[0]
        self.log.warning("Invalid request from ip=%s: %s", source, exc if refusal is not TOO_SLOW else "too slow")
        # gunicorn hands over the request when its line was parsed, or (for a bad header) attaches it to the error.
        req = req if req is not None else getattr(exc, "req", None)
        if isinstance(getattr(req, "method", None), str) and isinstance(getattr(req, "path", None), str):
            method, path = req.method, req.path
        else:
            method, path = _request_line(getattr(client, "head", b""))
        return self._answer_through_app(refusal, method, path, source)

    def _answer_through_app(self, refusal: TransportRefusal, method: str, path: str, source: str) -> bytes:
        """Let the app answer the refusal: the channel's shape, the inbound log, the access log, the metrics."""
        environ = EnvironBuilder(
            path=path,
            method=method,
            environ_base={"REMOTE_ADDR": source, REFUSAL_KEY: refusal},
        ).get_environ()
        app_iter, status, headers = run_wsgi_app(self.biller_app, environ)
        try:
            body = b"" if method == "HEAD" else b"".join(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in _FRAMING_HEADERS]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + body


# gunicorn's worker_class setting for this worker (serve and config/gunicorn.conf.py name it).
WORKER_CLASS = f"{__name__}.{BoundedThreadWorker.__name__}"
_FRAMING_HEADERS = {"content-length", "connection", "transfer-encoding"}


def refusal_for(exc: BaseException) -> TransportRefusal | None:
    """The refusal for what gunicorn raised while reading a request; None for a fault of ours (answered 500)."""
    if isinstance(exc, ReadDeadlineExceeded):
        return TOO_SLOW
    if isinstance(exc, errors.InvalidResponseHeader | errors.InvalidResponseHeaderName | errors.ConfigurationProblem):
        return None
    if isinstance(exc, errors.LimitRequestLine):
        return URI_TOO_LONG
    if isinstance(exc, errors.LimitRequestHeaders):
        return HEADERS_TOO_LARGE
    if isinstance(exc, errors.ExpectationFailed):
        return EXPECTATION_FAILED
    if isinstance(exc, errors.UnsupportedTransferCoding):
        return UNSUPPORTED_CODING
    if isinstance(exc, errors.InvalidChunkSize | errors.ChunkMissingTerminator | errors.InvalidChunkExtension):
        return MALFORMED_BODY
    if isinstance(exc, errors.ParseException | ssl.SSLError):
        return MALFORMED
    return None


def _request_line(head: bytes) -> tuple[str, str]:
    """The method and path of a request whose headers could not be parsed, if its request line could."""
    match = _REQUEST_LINE.match(head)
    if match is None:
        return "GET", "/"
    path = urlsplit(match.group(2).decode("latin-1")).path
    return match.group(1).decode(), path if path.startswith("/") and path.isprintable() else "/"


def _write(client: Any, data: bytes) -> None:
    with suppress(OSError):  # the client has gone: nobody to answer
        util.write(client, data)
