"""Kaleidofin's envelopes. Success is ``{"data", "status": 0, "success": true}`` (Kaleidofin's page); errors
follow Setu's ``errorResponse`` (Kaleidofin's page shows none, and its contract mirrors Setu's BillCollect)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from biller_server.http.errors import ErrorInfo
from biller_server.http.logging import current_request_id


def render_success(data: dict[str, Any]) -> Response:
    return jsonify({"data": data, "status": 0, "success": True})


def render_error(error: ErrorInfo) -> Response:
    body = {
        "status": error.http_status,
        "success": False,
        "error": {
            "code": error.code,
            "title": error.code.replace("-", "_").upper(),
            "detail": error.message,
            "docURL": "",
            "traceID": current_request_id(),
            "errors": _field_errors(error.details),
        },
    }
    response = jsonify(body)
    response.status_code = error.http_status
    return response


def _field_errors(details: Any) -> list[dict[str, str]]:
    """Flatten marshmallow's nested messages into Setu's ``errors`` list, one entry per field."""
    found: list[dict[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and node and all(isinstance(item, str) for item in node):
            found.append({"code": "invalid-param", "title": path or "body", "detail": " ".join(node), "docURL": ""})
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")
        elif node is not None:
            found.append({"code": "invalid-param", "title": path or "body", "detail": str(node), "docURL": ""})

    walk(details, "")
    return found
