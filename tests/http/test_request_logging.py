import json
import logging

import pytest

from tests.conftest import KALEIDOFIN_KEY


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
