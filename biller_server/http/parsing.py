"""Request bodies, parsed exactly: JSON numbers become Decimal (never float), so amounts stay exact; what no
endpoint can take (a repeated key, NUL, a lone surrogate, NaN) is refused here, once, for every channel."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NoReturn

import flask
from flask_smorest import Blueprint, abort
from webargs.flaskparser import FlaskParser, is_json_request


class RefusedJSON(ValueError):
    """Valid JSON that no endpoint here accepts; the message says why, in words a partner can act on."""


def _refuse_constant(name: str) -> NoReturn:
    raise RefusedJSON(f"The request body holds {name}, which is not a number this API accepts.")


def _object_without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON allows a repeated key and Python keeps the last one; a partner's log, our stored raw body and our
    # reading would then disagree about what was sent (RFC 8259 4: "names SHOULD be unique"). Refused.
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise RefusedJSON(f"The request body repeats the key {json.dumps(key[:50])} in one object.")
        document[key] = value
    return document


# A UTF-16 surrogate on its own: JSON's "\ud800" escape decodes to one, which no UTF-8 text (nor PostgreSQL) can
# hold. A valid pair ("\ud83d\ude00") is joined into one character by the parser and never matches.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_exact_json(data: bytes) -> Any:
    """Parse a JSON body with Decimal numbers; refuse what no endpoint here can take (``RefusedJSON``).

    Refused: NaN and Infinity; a key repeated within one object (nested ones too); NUL ("\\u0000") and lone
    surrogates ("\\ud800") in any string or key: valid JSON, but no database text column can hold them
    (PostgreSQL refuses both outright). Every channel's views parse through here, so each one refuses them alike.
    (Digits other than 0-9 are refused by each channel's schema, in its amounts and identifiers only: a note for
    people may hold any digits.)
    """
    document = json.loads(
        data.decode("utf-8"),
        parse_float=Decimal,
        parse_constant=_refuse_constant,
        object_pairs_hook=_object_without_repeated_keys,
    )
    _refuse_unstorable_text(document)
    return document


def _refuse_unstorable_text(document: Any) -> None:
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise RefusedJSON("The request body contains a NUL character (\\u0000).")
            if not value.isascii() and _LONE_SURROGATE.search(value):
                raise RefusedJSON(
                    "The request body contains a lone UTF-16 surrogate (such as \\ud800), which is no character."
                )
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


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
        except RefusedJSON as refused:
            abort(400, message=str(refused), error_code="malformed-request")
        except (ValueError, UnicodeDecodeError, RecursionError):
            # ValueError covers JSONDecodeError and refused constants; RecursionError, absurdly deep nesting.
            abort(400, message="The request body is not valid JSON.", error_code="malformed-request")


class ChannelBlueprint(Blueprint):
    """A flask-smorest blueprint whose arguments are parsed by ExactJSONParser."""

    ARGUMENTS_PARSER = ExactJSONParser()

    def document_errors(self, schema: Any, responses: Mapping[int, str]) -> Callable[[Any], Any]:
        """A view decorator: the channel's refusals (status → description), all in the channel's error shape."""

        def document(view: Any) -> Any:
            for status, description in responses.items():
                view = self.alt_response(status, schema=schema, description=description)(view)
            return view

        return document
