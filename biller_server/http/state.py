"""Values that belong to one request: its id, start time, database session and inbound-log notes.

They live in the WSGI environ rather than in ``flask.g``, which belongs to the app context: a context can
outlive a request (a test holding one open, a CLI command), and then ``g`` would carry one request's notes into
the next.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

_KEY = "biller_server.state"


def request_state() -> dict[str, Any]:
    if not has_request_context():
        return {}
    return request.environ.setdefault(_KEY, {})
