"""Setu's envelopes (setu-billcollect-openapi.json): ``baseResponse`` ``{status, success, data}`` for an answer
and ``errorResponse`` ``{status, success: false, error: {code, title, detail, docURL, traceID, errors[]}}`` for a
refusal (setu-errors.mdx). Kaleidofin's contract mirrors Setu's and its refusals are the same ``errorResponse``:
``render_error_response`` is the one function that writes it, for both channels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NoReturn

from flask import Response, jsonify, request
from flask_smorest import abort

from biller_server.domain.billing.identifiers import IdentifierProblem, IdentifiersRefused
from biller_server.http.errors import ErrorInfo
from biller_server.http.logging import current_request_id

PAYMENT_POSTING_PATH = "/bills/fetchReceipt"
# Refusals of a request's form: Setu's spec answers them "400 Malformed request", on fetchReceipt too.
FORM_CODES = frozenset({"bad-request", "malformed-request", "invalid-param", "header-not-found"})
# The errors page spells the generic 500 "unable-to-fulfil-request"; the fetchReceipt page, the one page that shows
# what a biller answers with a 500, spells it "unable-to-fulfill-request". Setu's channel uses the biller-side one.
SETU_SPELLINGS = {"unable-to-fulfil-request": "unable-to-fulfill-request"}


# Refused identifiers, in the words Setu and Kaleidofin share: (error code, message); their field names apart.
IDENTIFIER_REFUSALS = {
    IdentifierProblem.NONE_GIVEN: ("insufficient-customer-identifiers", "Give at least one customer identifier."),
    IdentifierProblem.TOO_MANY: ("invalid-param", "At most {refused.limit} identifiers are accepted."),
    IdentifierProblem.UNKNOWN_NAME: (
        "invalid-param",
        "{name_field} {refused.name!r} is not accepted by this biller (accepted: {accepted}).",
    ),
    IdentifierProblem.EMPTY_VALUE: ("invalid-param", "{value_field} for {refused.name!r} is empty."),
    IdentifierProblem.TWO_VALUES: ("invalid-param", "Two different values were given for {refused.meaning}."),
}


def refuse_identifiers(refused: IdentifiersRefused, *, name_field: str, value_field: str) -> NoReturn:
    """Answer 400 for identifiers the domain refused, naming the channel's own fields."""
    code, message = IDENTIFIER_REFUSALS[refused.problem]
    text = message.format(
        refused=refused, accepted=", ".join(refused.accepted), name_field=name_field, value_field=value_field
    )
    abort(400, message=text, error_code=code)


def render_success(data: Mapping[str, Any] | None = None) -> Response:
    """``{"status": 200, "success": true, "data": ...}``; without data, the bare baseResponse (a notification's)."""
    body: dict[str, Any] = {"status": 200, "success": True}
    if data is not None:
        body["data"] = data
    return jsonify(body)


def render_error_response(error: ErrorInfo) -> Response:
    """Setu's errorResponse, the HTTP status repeated in ``status`` and the request id as ``traceID``."""
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


def setu_error(error: ErrorInfo, *, payment_posting: bool) -> ErrorInfo:
    """The refusal as Setu's channel sends it.

    A payment posting (fetchReceipt) that the biller refuses for a business reason is answered 500, as
    setu-fetch-pay.mdx asks ("validation related error or business requirement ... respond with a 500"); its
    specific code (``bill-not-found``, ``transaction-conflict``...) is kept. A refusal of the request's form stays
    400, as the spec's "400 Malformed request" says: Setu retries errors with the same body, and that body can
    never pass.
    """
    code = SETU_SPELLINGS.get(error.code, error.code)
    status = error.http_status
    if payment_posting and status in (400, 409) and code not in FORM_CODES:
        status = 500
    return dataclasses.replace(error, http_status=status, code=code)


def render_error(error: ErrorInfo) -> Response:
    """The Setu channel's renderer (a ChannelSpec's ``render_error``): it runs inside the refused request."""
    return render_error_response(setu_error(error, payment_posting=request.path.endswith(PAYMENT_POSTING_PATH)))
