"""Digiledge's acknowledgement, ``{reason, code, status}``: reason and status 1-100 characters, code 3 digits."""

from __future__ import annotations

from flask import Response, jsonify

from biller_server.http.errors import ErrorInfo


def render_ack(*, code: int, status: str, reason: str, http_status: int = 200) -> Response:
    response = jsonify({"reason": reason[:100] or status, "code": code, "status": status[:100]})
    response.status_code = http_status
    return response


def render_error(error: ErrorInfo) -> Response:
    return render_ack(code=error.http_status, status="FAILURE", reason=error.message, http_status=error.http_status)
