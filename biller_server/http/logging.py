"""JSON log lines, one per request, with a request id; secrets never reach a log line."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable

from flask import Flask, Response, request

from biller_server.config import Settings
from biller_server.http.redaction import SecretRedactor
from biller_server.http.state import request_state

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
access_logger = logging.getLogger("biller_server.access")


class JSONFormatter(logging.Formatter):
    """Format a record as one JSON object; extra fields given as ``extra={"fields": {...}}`` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


JSONFormatter.converter = time.gmtime


class RedactSecrets(logging.Filter):
    """Replace any configured secret that appears anywhere in a record's text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redactor = SecretRedactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        if not redactor:
            return True
        message = record.getMessage()
        fields = getattr(record, "fields", None)
        if redactor.found_in(message):
            record.msg, record.args = redactor.text(message), None
        if fields and any(isinstance(value, str) and redactor.found_in(value) for value in fields.values()):
            record.fields = {
                key: redactor.text(value) if isinstance(value, str) else value for key, value in fields.items()
            }
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write to whatever sys.stderr is now (a test's capture, a daemon's redirect), not what it was at set-up."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # type: ignore[no-untyped-def]
        pass


def configure_logging(settings: Settings) -> None:
    """Send every log record of the process to stderr as JSON, with secrets redacted."""
    handler = _StderrHandler()
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RedactSecrets(settings.secret_values()))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_biller_server", False):
            root.removeHandler(existing)
    handler._biller_server = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.captureWarnings(True)  # a library's warning is a JSON line too (logger py.warnings), not bare text


def init_request_logging(app: Flask) -> None:
    app.before_request(_start_request)
    app.after_request(_log_request)


def current_request_id() -> str:
    return request_state().get("request_id") or "-"


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    state = request_state()
    state["request_id"] = incoming if _REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
    state["request_started"] = time.perf_counter()


def note_access_fields(*, channel: str, outcome: str, partner_ref: str | None) -> None:
    """What the inbound log decided about a partner's request, for its access line too."""
    request_state()[_ACCESS_FIELDS] = {"channel": channel, "outcome": outcome, "partner_ref": partner_ref}


_ACCESS_FIELDS = "access_fields"
_NO_CHANNEL = {"channel": None, "outcome": None, "partner_ref": None}


def _log_request(response: Response) -> Response:
    state = request_state()
    request_id = state.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    started = state.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 3) if started else None
    access_logger.info(
        "request",
        extra={
            "fields": {
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "remote_addr": request.remote_addr,
                # A partner's request: its channel, what became of it and the partner's reference (inbound log).
                **state.get(_ACCESS_FIELDS, _NO_CHANNEL),
            }
        },
    )
    return response
