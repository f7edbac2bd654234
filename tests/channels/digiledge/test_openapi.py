"""The OpenAPI document describes the Digiledge protocol endpoints with their schemas, examples and refusals."""

import pytest

PATHS = ["/digiledge/fetch", "/digiledge/validation", "/digiledge/payment", "/digiledge/TxnStatus402"]


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json


def schema_of(spec, reference):
    return spec["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]


@pytest.mark.parametrize("path", PATHS)
def test_endpoint_is_documented_with_request_ack_and_refusals(spec, path):
    operation = spec["paths"][path]["post"]
    assert operation["summary"]
    request = operation["requestBody"]["content"]["application/json"]
    assert "refId" in schema_of(spec, request["schema"])["required"]
    assert request["example"]["refId"]
    ack = operation["responses"]["200"]
    assert set(schema_of(spec, ack["content"]["application/json"]["schema"])["properties"]) == {
        "reason",
        "code",
        "status",
    }
    assert "409 CONFLICT" in ack["description"]
    for status in ("400", "401", "403", "409", "413", "415", "500", "503"):
        assert status in operation["responses"], status


def test_payment_request_documents_the_amount_as_rupee_text(spec):
    request = spec["paths"]["/digiledge/payment"]["post"]["requestBody"]["content"]["application/json"]
    assert request["example"]["amount"]["amt"]["amount"] == "1000.00"
    amt = spec["components"]["schemas"]["Amt"]
    assert amt["properties"]["amount"]["type"] == "string"
    assert amt["required"] == ["amount"]
