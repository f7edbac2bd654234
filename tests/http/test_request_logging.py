import json
import logging

import pytest

from tests.conftest import KALEIDOFIN_KEY
from tests.factories import BillFactory


@pytest.fixture
def access_lines(capsys):
    def read() -> list[dict]:
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        return [line for line in lines if line["logger"] == "biller_server.access"]

    logging.getLogger("biller_server.access").setLevel(logging.INFO)
    return read


def test_request_id_from_the_caller_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "partner-req-42"})
    assert response.headers["X-Request-ID"] == "partner-req-42"


def test_request_id_is_generated_when_absent(client):
    response = client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 32


def test_unsafe_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(response.headers["X-Request-ID"]) == 32


def test_each_request_writes_one_json_access_line(client, access_lines):
    access_lines()
    client.get("/healthz", headers={"X-Request-ID": "abc-1"})
    lines = access_lines()
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "abc-1"
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)


def test_api_keys_never_appear_in_logs(client, capsys):
    client.post("/bills/fetchBills", headers={"X-API-Key": KALEIDOFIN_KEY}, json=[])
    client.post("/bills/fetchBills", headers={"X-API-Key": "wrong-" + KALEIDOFIN_KEY}, json=[])
    logging.getLogger("biller_server").warning("a careless message with %s", KALEIDOFIN_KEY)
    err = capsys.readouterr().err
    assert "a careless message with [REDACTED]" in err
    assert KALEIDOFIN_KEY not in err


def test_a_partners_access_line_carries_its_channel_outcome_and_reference(client, access_lines, session):
    bill = BillFactory(partner_bill_id="TEST-124")
    session.flush()
    access_lines()
    body = {
        "systemBillId": 14,
        "partnerBillId": bill.partner_bill_id,
        "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "LOG-TXN-1"},
    }

    client.post("/bills/fetchReceipt", headers={"X-API-Key": KALEIDOFIN_KEY}, json=body)
    client.post("/bills/fetchReceipt", headers={"X-API-Key": "wrong-key-0123456789"}, json=body)
    client.get("/healthz")

    paid, refused, health = access_lines()
    assert (paid["channel"], paid["outcome"], paid["partner_ref"]) == ("kaleidofin", "receipt_issued", "LOG-TXN-1")
    assert (refused["channel"], refused["outcome"], refused["status"]) == ("kaleidofin", "unauthenticated", 401)
    assert (health["channel"], health["outcome"], health["partner_ref"]) == (None, None, None)
