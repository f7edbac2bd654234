"""The request as it arrives on the wire: its body read whole, within a byte cap, before the app sees it.

Whatever the framing (Content-Length or chunked), the app only ever gets a complete body of at most
``BILLER_MAX_REQUEST_BYTES`` bytes. A request that cannot give one is refused with a ``TransportRefusal``, which
the app answers like any other error: in the channel's own shape, with an inbound log row. Three places refuse a
request before the app can read it, and all end here:

- ``RequestBodyGuard`` below: a body over the cap (413), one not sent in time (408: serve's workers bound every
  read, biller_server/http/gunicorn_worker.py), or malformed chunked framing (400);
- serve's gunicorn workers: malformed request lines and headers, or headers not sent in time
  (biller_server/http/gunicorn_worker.py);
- the front server (deploy/nginx/biller-server.conf), which says what it refused in ``X-Biller-Edge-Refusal``.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, request
from flask_smorest import abort

from biller_server.http.channels import note_inbound_outcome

logger = logging.getLogger(__name__)

REFUSAL_KEY = "biller_server.transport_refusal"
GUARD_KEY = "biller_server.body_guard"
# The cap a request was read with, when its path has a larger one than BILLER_MAX_REQUEST_BYTES.
BODY_CAP_KEY = "biller_server.body_cap"
# Set by the front server on the request it re-asks the app to answer for it (deploy/nginx/biller-server.conf).
FRONT_SERVER_REFUSAL_HEADER = "X-Biller-Edge-Refusal"
_READ_STEP = 64 * 1024
# A larger body (a path given its own cap, e.g. the console's file upload) is kept on disk past this size.
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ReadDeadlineExceeded(Exception):
    """A client did not send its request's headers or body within the allowed time.

    Not an OSError on purpose: gunicorn treats those as a vanished client and answers nothing.
    """


@dataclass(frozen=True)
class LargerBody:
    """A path (exact, POST) that accepts a larger body than the partner paths, and longer to send it."""

    max_bytes: int
    timeout_seconds: float


@dataclass(frozen=True)
class TransportRefusal:
    """Why a request was refused before the app could read it, in the words of the error envelopes."""

    http_status: int
    code: str
    message: str


MALFORMED = TransportRefusal(400, "bad-request", "The request's headers or framing are malformed.")
MALFORMED_BODY = TransportRefusal(400, "bad-request", "The request body's chunked framing is malformed.")
INCOMPLETE_BODY = TransportRefusal(400, "bad-request", "The request body ended before its declared length.")
TOO_SLOW = TransportRefusal(408, "request-timeout", "The request was not received in time.")
TOO_LARGE = TransportRefusal(413, "payload-too-large", "The request body is larger than this endpoint accepts.")
URI_TOO_LONG = TransportRefusal(414, "uri-too-long", "The request line is too long.")
HEADERS_TOO_LARGE = TransportRefusal(431, "header-fields-too-large", "The request headers are too large.")
EXPECTATION_FAILED = TransportRefusal(417, "expectation-failed", "Only Expect: 100-continue is supported.")
UNSUPPORTED_CODING = TransportRefusal(501, "not-implemented", "Only the chunked transfer coding is supported.")

# What the front server may ask the app to answer for it, by the header's value; any other value is ignored.
FRONT_SERVER_REFUSALS = {
    str(refusal.http_status): refusal for refusal in (MALFORMED, TOO_LARGE, HEADERS_TOO_LARGE, UNSUPPORTED_CODING)
}


class RequestBodyGuard:
    """WSGI middleware: read each request's body whole before the app runs, at most ``max_bytes`` of it.

    Reading it here rather than wherever the app first asks means a chunked body is held to the same cap as one
    with a Content-Length, and a body that is late, too large or malformed is refused before authentication or
    any view runs. The app then reads the body from memory.
    """

    def __init__(self, app: WSGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger: dict[str, LargerBody] = {}  # by exact path: see allow_larger_body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if REFUSAL_KEY not in environ:
            refusal = _front_server_refusal(environ) or self._read_body(environ)
            if refusal is not None:
                environ[REFUSAL_KEY] = refusal
                _abandon(environ["wsgi.input"])
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(), "0"
                environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    def _read_body(self, environ: dict[str, Any]) -> TransportRefusal | None:
        codings = [coding.strip() for coding in environ.get("HTTP_TRANSFER_ENCODING", "").lower().split(",")]
        if any(coding not in ("", "chunked") for coding in codings):
            return UNSUPPORTED_CODING  # gzip and the like would reach the app still encoded
        # A chunked body is delimited only by a server that decodes it (gunicorn and werkzeug say so).
        chunked = "chunked" in codings and bool(environ.get("wsgi.input_terminated"))
        length = _content_length(environ)
        if not chunked and not length:
            return None
        stream = environ["wsgi.input"]
        larger = self.larger.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        max_bytes = larger.max_bytes if larger is not None else self.max_bytes
        if larger is not None:
            environ[BODY_CAP_KEY] = max_bytes
        if not chunked and length > max_bytes:
            return TOO_LARGE
        limit = max_bytes + 1 if chunked else length
        body: Any = bytearray() if larger is None else tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        received, refusal = self._receive(stream, body, limit)
        if refusal is None and received > max_bytes:
            refusal = TOO_LARGE
        if refusal is None and not chunked and received < length:
            refusal = INCOMPLETE_BODY
        if refusal is not None:
            if larger is not None:
                body.close()
            return refusal
        if larger is None:
            environ["wsgi.input"] = io.BytesIO(bytes(body))
        else:
            body.seek(0)
            environ["wsgi.input"] = body  # closed, its disk space freed, when the request ends (teardown below)
        environ["CONTENT_LENGTH"] = str(received)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return None

    @staticmethod
    def _receive(stream: Any, body: Any, limit: int) -> tuple[int, TransportRefusal | None]:
        """Read up to ``limit`` bytes of ``stream`` into ``body`` (a bytearray, or a file)."""
        received = 0
        try:
            while received < limit:
                data = stream.read(min(limit - received, _READ_STEP))
                if not data:
                    break
                received += len(data)
                if isinstance(body, bytearray):
                    body += data
                else:
                    body.write(data)
        except ReadDeadlineExceeded:
            return received, TOO_SLOW
        except OSError:
            return received, INCOMPLETE_BODY  # the client went away (or reset) in the middle of its body
        except Exception as exc:
            # gunicorn's chunked reader raises its parse errors (bad chunk size, missing CRLF, bad trailer).
            logger.info("malformed request body: %s", exc)
            return received, MALFORMED_BODY
        return received, None


def _content_length(environ: dict[str, Any]) -> int:
    # gunicorn refuses a malformed Content-Length before the app runs; elsewhere an unreadable one means no body.
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _abandon(stream: object) -> None:
    """Tell gunicorn not to read on after a refused request (the rest of its body): close after the answer."""
    if hasattr(stream, "failed"):
        stream.failed = True  # type: ignore[attr-defined]


def _front_server_refusal(environ: dict[str, Any]) -> TransportRefusal | None:
    return FRONT_SERVER_REFUSALS.get(environ.get("HTTP_" + FRONT_SERVER_REFUSAL_HEADER.upper().replace("-", "_"), ""))


def init_transport(app: Flask) -> None:
    """Read bodies through the guard, and answer its refusals before any other check (authentication included)."""
    guard = RequestBodyGuard(app.wsgi_app, max_bytes=app.config["MAX_CONTENT_LENGTH"])
    app.wsgi_app = guard  # type: ignore[method-assign]
    app.extensions[GUARD_KEY] = guard
    app.before_request(_refuse_what_the_transport_refused)
    app.teardown_request(_close_spooled_body)


def _close_spooled_body(_exc: BaseException | None = None) -> None:
    """A larger body kept on disk goes when its request ends (the app has read all it will)."""
    body = request.environ.get("wsgi.input")
    if isinstance(body, tempfile.SpooledTemporaryFile):
        body.close()


def allow_larger_body(app: Flask, path: str, *, max_bytes: int, timeout_seconds: float) -> None:
    """Let POSTs to ``path`` (exactly) send up to ``max_bytes``, within ``timeout_seconds`` under serve; the body
    is spooled to disk past 1 MiB. Every other path keeps BILLER_MAX_REQUEST_BYTES. Flask's own check
    (``request.max_content_length``) is raised to match for those requests."""
    guard: RequestBodyGuard = app.extensions[GUARD_KEY]
    guard.larger[path] = LargerBody(max_bytes, timeout_seconds)


def larger_body(app: Any, path: str) -> LargerBody | None:
    """The larger allowance of ``path``, if it has one (serve's workers read it for the body's deadline)."""
    guard = getattr(app, "extensions", {}).get(GUARD_KEY)
    return guard.larger.get(path) if guard is not None else None


def _refuse_what_the_transport_refused() -> None:
    cap = request.environ.get(BODY_CAP_KEY)
    if cap is not None:
        request.max_content_length = cap  # the app reads the body within the cap the guard read it with
    refusal: TransportRefusal | None = request.environ.get(REFUSAL_KEY)
    if refusal is None:
        return
    note_inbound_outcome(f"refused:{refusal.code}", error=refusal.message)
    abort(refusal.http_status, message=refusal.message, error_code=refusal.code)
