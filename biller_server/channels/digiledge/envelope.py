"""Digiledge's acknowledgement, ``{reason, code, status}``: reason and status 1-100 characters, code 3 digits.

Every Digiledge answer has this shape, refusals included; the table of codes is in docs/channels/digiledge.md.
"""

from __future__ import annotations

from flask import Response, jsonify

from biller_server.http.errors import ErrorInfo

# HTTP status of a refusal -> the ack's status word.
ERROR_STATUS_WORDS = {
    400: "INVALID",
    401: "UNAUTHORISED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "INVALID",
    408: "TIMEOUT",  # the request's headers or body did not arrive in time
    409: "CONFLICT",
    413: "INVALID",
    415: "INVALID",
    425: "DUPLICATE_REQUEST",  # auth scheme jwt: a signed request replayed
    500: "ERROR",
    501: "INVALID",  # a transfer coding other than chunked: the request's fault
    503: "TEMPORARILY_UNAVAILABLE",
}


def render_ack(*, code: int, status: str, reason: str, http_status: int = 200) -> Response:
    response = jsonify({"reason": (reason or status)[:100], "code": code, "status": status[:100]})
    response.status_code = http_status
    return response


def render_error(error: ErrorInfo) -> Response:
    status = ERROR_STATUS_WORDS.get(error.http_status, "ERROR" if error.http_status >= 500 else "INVALID")
    return render_ack(code=error.http_status, status=status, reason=error.message, http_status=error.http_status)
