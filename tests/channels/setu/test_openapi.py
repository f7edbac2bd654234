"""The OpenAPI document describes Setu's four operations under the channel's prefix: Setu's own examples as the
request examples, every error status Setu can get, and the channel's security scheme."""

import pytest

from tests.fakes import setu_payloads as published_pages
from tests.fakes.setu_payloads import published

OPERATIONS = {
    "/setu/bills/fetch": published_pages.FETCH_BILL_REQUEST,
    "/setu/customer/validate": published_pages.VALIDATE_CUSTOMER_REQUEST,
    "/setu/bills/fetchReceipt": published_pages.FETCH_RECEIPT_REQUEST,
    "/setu/notifications": published_pages.SETTLEMENT_NOTIFICATION,
}
ERROR_STATUSES = ("400", "401", "403", "404", "405", "413", "415", "425", "500", "503")


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json


@pytest.mark.parametrize("path", OPERATIONS)
def test_each_operation_has_setus_example_every_error_status_and_the_channels_scheme(spec, path):
    operation = spec["paths"][path]["post"]

    assert operation["summary"]
    assert operation["requestBody"]["content"]["application/json"]["example"] == published(OPERATIONS[path])
    assert "200" in operation["responses"]
    for status in ERROR_STATUSES:
        assert status in operation["responses"], status
    error_schema = operation["responses"]["500"]["content"]["application/json"]["schema"]["$ref"]
    assert error_schema.endswith("/ErrorResponse")
    assert operation["security"] == [{"setu_api_key": []}]
    scheme = spec["components"]["securitySchemes"]["setu_api_key"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")


def test_the_alternative_paths_are_served_but_documented_once(spec):
    assert "/setu/bills/fetch/" not in spec["paths"]
    assert "/setu/api/notifications" not in spec["paths"]


@pytest.mark.parametrize("settings_overrides", [{"setu_path_prefix": "/partners/setu"}])
def test_the_prefix_is_the_configured_one(client, settings_overrides, setu_headers):
    paths = client.get("/openapi.json").json["paths"]

    assert "/partners/setu/bills/fetch" in paths
    assert client.post("/partners/setu/bills/fetch", json={}, headers=setu_headers).status_code == 400
