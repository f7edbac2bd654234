"""Setu's own contract as a validator: the biller-side part of setu-billcollect-openapi.json (Swagger 2.0), turned
into JSON Schema (draft 4) and checked with jsonschema_rs.

``tests/fakes/setu_billcollect_biller_api.json`` holds that part unchanged: the four operations Setu calls on a
biller (``/bills/fetch``, ``/bills/fetchReceipt``, ``/customer/validate``, ``/notifications``) and every definition
they reach, copied from SetuHQ/docs ``api-references/payments/bbps.json`` (the copy in /work/shared/partner-docs;
test_payloads.py checks they are still equal when that folder is present).

The conversion reads Swagger 2.0 the way Setu's Go models do (the ``x-go-name`` of its definitions): an
``x-nullable`` schema also takes null, and ``"type": "number", "format": "int"`` (amounts in paise) is an integer.
``closed=True`` also refuses fields that Setu's definitions do not name (after merging each ``allOf``), to catch a
misspelt key such as ``billerBillId`` in what we send; Setu's definitions never set ``additionalProperties``.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SPEC_PATH = Path(__file__).resolve().parents[2] / "fakes" / "setu_billcollect_biller_api.json"
PREFIX = "/<partner-base-api-url>"


@cache
def biller_api() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def response_validator(path: str, status: int = 200, *, closed: bool = True) -> jsonschema_rs.Draft4Validator:
    """Setu's schema for the answer to ``POST <baseURL>{path}`` with ``status``."""
    spec = biller_api()
    response = spec["paths"][PREFIX + path]["post"]["responses"][str(status)]
    return _validator(response["schema"], closed)


def request_validator(path: str, *, closed: bool = False) -> jsonschema_rs.Draft4Validator:
    """Setu's schema for the body it posts to ``<baseURL>{path}``."""
    spec = biller_api()
    (body,) = [p for p in spec["paths"][PREFIX + path]["post"]["parameters"] if p["in"] == "body"]
    return _validator(body["schema"], closed)


def errors_of(validator: jsonschema_rs.Draft4Validator, document: Any) -> list[str]:
    """Every violation, as ``path: message`` (an empty list: the document satisfies Setu's schema)."""
    return sorted(
        f"{'/'.join(str(part) for part in error.instance_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def _validator(schema: dict[str, Any], closed: bool) -> jsonschema_rs.Draft4Validator:
    definitions = biller_api()["definitions"]
    document = {
        **_convert(schema, definitions, closed),
        "definitions": {name: _convert(node, definitions, closed) for name, node in definitions.items()},
    }
    return jsonschema_rs.Draft4Validator(document, validate_formats=True)


def _convert(node: Any, definitions: dict[str, Any], closed: bool) -> Any:
    if isinstance(node, list):
        return [_convert(item, definitions, closed) for item in node]
    if not isinstance(node, dict):
        return node
    node = copy.deepcopy(node)
    nullable = node.pop("x-nullable", False)
    if node.get("type") == "number" and node.get("format") == "int":
        node["type"] = "integer"
        del node["format"]
    if closed and node.get("allOf"):
        node = _merge_all_of(node, definitions)
    converted = {
        key: (
            {name: _convert(value, definitions, closed) for name, value in node["properties"].items()}
            if key == "properties"
            else _convert(value, definitions, closed)
        )
        for key, value in node.items()
        if not key.startswith("x-") and key != "example"
    }
    if closed and "properties" in converted:
        converted["additionalProperties"] = False
    return {"anyOf": [converted, {"type": "null"}]} if nullable else converted


def _merge_all_of(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Fold ``allOf: [{$ref}]`` into the node's own properties and required list (a closed object must see the
    parts' properties as its own)."""
    merged = {key: value for key, value in node.items() if key != "allOf"}
    properties = dict(merged.get("properties", {}))
    required = list(merged.get("required", []))
    for part in node["allOf"]:
        if "$ref" in part:
            part = definitions[part["$ref"].rsplit("/", 1)[-1]]
        if part.get("allOf"):
            part = _merge_all_of(part, definitions)
        properties = {**part.get("properties", {}), **properties}
        required += [name for name in part.get("required", []) if name not in required]
    merged["properties"] = properties
    if required:
        merged["required"] = required
    merged["type"] = "object"
    return merged
