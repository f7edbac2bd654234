"""Error responses: each channel renders its partner's own error shape; nothing ever shows a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from biller_server.domain.errors import DomainError, TransactionConflict
from biller_server.http.inbound_log import note_inbound_outcome

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong, in words a channel's renderer can put into its partner's envelope."""

    http_status: int
    code: str
    message: str
    details: dict | list | None = None


ErrorRenderer = Callable[[ErrorInfo], Response]

# HTTP status -> (generic error code, message), in Setu's vocabulary, which the channels share.
GENERIC_CODES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "The request is malformed."),
    401: ("unauthorised", "Missing or invalid credentials."),
    403: ("forbidden", "This source is not allowed to call this endpoint."),
    404: ("path-not-found", "No such endpoint."),
    405: ("method-not-allowed", "This endpoint does not accept that HTTP method."),
    408: ("request-timeout", "The request was not received in time."),
    413: ("payload-too-large", "The request body is larger than this endpoint accepts."),
    414: ("uri-too-long", "The request line is too long."),
    415: ("unsupported-media-type", "The request body must be application/json."),
    417: ("expectation-failed", "Only Expect: 100-continue is supported."),
    422: ("invalid-param", "The request body does not match the schema."),
    425: ("duplicate-request", "This request was already received."),
    429: ("too-many-requests", "Too many requests."),
    431: ("header-fields-too-large", "The request headers are too large."),
    500: ("unable-to-fulfil-request", "The request could not be processed."),
    501: ("not-implemented", "Only the chunked transfer coding is supported."),
    503: ("service-unavailable", "The service is temporarily unavailable; retry later."),
}


class ChannelErrorRenderers:
    """Which renderer answers for an error, chosen by the blueprint that matched or, failing that, the path."""

    def __init__(self) -> None:
        self._by_blueprint: dict[str, ErrorRenderer] = {}
        self._by_prefix: list[tuple[str, ErrorRenderer]] = []

    def register(self, blueprint: str, prefixes: list[str], renderer: ErrorRenderer) -> None:
        self._by_blueprint[blueprint] = renderer
        self._by_prefix += [(prefix.rstrip("/") + "/", renderer) for prefix in prefixes]

    def for_request(self) -> ErrorRenderer:
        if request.blueprint in self._by_blueprint:
            return self._by_blueprint[request.blueprint]
        for prefix, renderer in self._by_prefix:
            if request.path.startswith(prefix) or request.path == prefix.rstrip("/"):
                return renderer
        return render_generic_error


def render_generic_error(error: ErrorInfo) -> Response:
    body: dict = {"code": error.http_status, "status": error.code, "message": error.message}
    if error.details:
        body["errors"] = error.details
    response = jsonify(body)
    response.status_code = error.http_status
    return response


def error_info_from_http(exc: HTTPException) -> ErrorInfo:
    status = exc.code or 500
    code, message = GENERIC_CODES.get(status, ("error", exc.name))
    details = None
    data = getattr(exc, "data", None) or {}
    if "messages" in data:
        details = data["messages"]  # webargs' validation messages, field by field
        code = "invalid-param"
        message = "The request body does not match the schema: " + _first_messages(details)
    if "error_code" in data:
        code = data["error_code"]
    if "message" in data:
        message = data["message"]  # flask_smorest.abort(status, message=...)
    elif exc.description and status not in (404, 405, 500) and "messages" not in data:
        message = exc.description
    return ErrorInfo(status, code, message, details)


def _first_messages(details: object, limit: int = 3) -> str:
    """A one-line summary of marshmallow's nested messages: ``field: reason; ...``."""
    found: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and node and all(isinstance(item, str) for item in node):
            found.append(f"{path or 'body'}: {' '.join(node)}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(details, "")
    return "; ".join(found[:limit]) or "invalid input"


def is_database_unavailable(exc: BaseException) -> bool:
    """A lost connection, a refused one or an exhausted pool: the database, not the request, is at fault."""
    if isinstance(exc, PoolTimeoutError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def error_info_from_domain(exc: DomainError) -> ErrorInfo:
    # Setu answers every business refusal with 400; a reused transaction reference is a conflict.
    return ErrorInfo(409 if isinstance(exc, TransactionConflict) else 400, exc.code, exc.message)


def register_error_handlers(app: Flask, renderers: ChannelErrorRenderers) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Response:
        note_inbound_outcome(f"refused:{exc.code}", error=exc.message)
        return renderers.for_request()(error_info_from_domain(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = renderers.for_request()(error_info_from_http(exc))
        # The error's own headers go with it: Allow on a 405 (RFC 9110 15.5.6), WWW-Authenticate on a 401.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected_error(exc: Exception) -> Response:
        if is_database_unavailable(exc):
            logger.warning("database unavailable: %s", type(exc).__name__)
            code, message = GENERIC_CODES[503]
            return renderers.for_request()(ErrorInfo(503, code, message))
        logger.exception("unhandled error")
        code, message = GENERIC_CODES[500]
        return renderers.for_request()(ErrorInfo(500, code, message))
