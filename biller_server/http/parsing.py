"""Request bodies, parsed exactly: JSON numbers become Decimal (never float), so amounts stay exact."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, NoReturn

import flask
from flask_smorest import Blueprint, abort
from webargs.flaskparser import FlaskParser, is_json_request


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number this API accepts")


def parse_exact_json(data: bytes) -> Any:
    """Parse a JSON body with Decimal numbers; NaN, Infinity and NUL characters are refused.

    NUL ("\\u0000") is valid JSON but no database text column can hold it (PostgreSQL refuses it outright): a
    body carrying one is malformed for every endpoint here.
    """
    document = json.loads(data.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant)
    if _has_nul(document):
        raise ValueError("the body contains a NUL character")
    return document


def _has_nul(document: Any) -> bool:
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


class ExactJSONParser(FlaskParser):
    """webargs' parser with exact numbers, 400 for invalid input and 415 for a body that is not JSON."""

    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req: flask.Request, schema: Any) -> Any:
        if not is_json_request(req):
            abort(415, message="The request body must be JSON (Content-Type: application/json).")
        data = req.get_data(cache=True)
        if not data.strip():
            abort(400, message="The request body is empty.", error_code="malformed-request")
        try:
            return parse_exact_json(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # ValueError covers JSONDecodeError and refused constants; RecursionError, absurdly deep nesting.
            abort(400, message="The request body is not valid JSON.", error_code="malformed-request")


class ChannelBlueprint(Blueprint):
    """A flask-smorest blueprint whose arguments are parsed by ExactJSONParser."""

    ARGUMENTS_PARSER = ExactJSONParser()
