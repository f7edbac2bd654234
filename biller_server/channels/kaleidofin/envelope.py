"""Kaleidofin's envelopes. Success is ``{"data", "status": 0, "success": true}`` (Kaleidofin's page); errors
follow Setu's ``errorResponse`` (Kaleidofin's page shows none, and its contract mirrors Setu's BillCollect), written
by the Setu channel's one renderer of it."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from biller_server.channels.setu.envelope import render_error_response
from biller_server.http.errors import ErrorInfo


def render_success(data: dict[str, Any]) -> Response:
    return jsonify({"data": data, "status": 0, "success": True})


def render_error(error: ErrorInfo) -> Response:
    return render_error_response(error)
