"""Error responses: each channel renders its partner's own error shape; nothing ever shows a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

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
    413: ("payload-too-large", "The request body is larger than this endpoint accepts."),
    415: ("unsupported-media-type", "The request body must be application/json."),
    422: ("invalid-param", "The request body does not match the schema."),
    429: ("too-many-requests", "Too many requests."),
    500: ("unable-to-fulfil-request", "The request could not be processed."),
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
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and "messages" in data:
        details = data["messages"]  # webargs' validation messages, field by field
    if exc.description and status not in (404, 405, 500):
        message = exc.description
    return ErrorInfo(status, code, message, details)


def is_database_unavailable(exc: BaseException) -> bool:
    """A lost connection, a refused one or an exhausted pool: the database, not the request, is at fault."""
    if isinstance(exc, PoolTimeoutError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def register_error_handlers(app: Flask, renderers: ChannelErrorRenderers) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return renderers.for_request()(error_info_from_http(exc))

    @app.errorhandler(Exception)
    def _unexpected_error(exc: Exception) -> Response:
        if is_database_unavailable(exc):
            logger.warning("database unavailable: %s", type(exc).__name__)
            code, message = GENERIC_CODES[503]
            return renderers.for_request()(ErrorInfo(503, code, message))
        logger.exception("unhandled error")
        code, message = GENERIC_CODES[500]
        return renderers.for_request()(ErrorInfo(500, code, message))
