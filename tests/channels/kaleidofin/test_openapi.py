"""The OpenAPI document describes both Kaleidofin endpoints with their real schemas and examples."""

import pytest


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json


@pytest.mark.parametrize("path", ["/bills/fetchBills", "/bills/fetchReceipt"])
def test_endpoint_is_documented_with_request_success_and_error_schemas(spec, path):
    operation = spec["paths"][path]["post"]
    assert operation["summary"]
    request = operation["requestBody"]["content"]["application/json"]
    assert "schema" in request
    assert "example" in request
    assert "200" in operation["responses"]
    for status in ("400", "401", "409", "413", "415", "503"):
        assert status in operation["responses"], status


def test_fetch_bills_request_is_an_array_of_identifiers(spec):
    schema = spec["paths"]["/bills/fetchBills"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert (schema["type"], schema["minItems"], schema["maxItems"]) == ("array", 1, 10)
    assert set(schema["items"]["required"]) == {"identifierKey", "identifierValue"}


def test_receipt_response_schema_has_the_documented_fields(spec):
    receipt = spec["components"]["schemas"]["Receipt"]
    assert set(receipt["properties"]) == {"date", "id"}
