"""Every partner endpoint is authenticated before anything but the inbound log is written."""

import base64

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import Customer, InboundMessage
from tests.conftest import KALEIDOFIN_KEY

PROBE = "/bills/fetchBills"


def _inbound(session):
    return session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)).all()


def test_missing_api_key_is_401_in_the_channel_envelope(client, session):
    response = client.post(PROBE, json=[])
    assert response.status_code == 401
    assert response.json["success"] is False
    assert response.json["status"] == 401
    assert response.json["error"]["code"] == "unauthorised"
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_wrong_api_key_of_equal_length_is_401(client):
    wrong = "x" * len(KALEIDOFIN_KEY)
    response = client.post(PROBE, json=[], headers={"X-API-Key": wrong})
    assert response.status_code == 401


def test_unauthenticated_call_is_logged_with_its_outcome_and_without_the_key(client, session):
    client.post(PROBE, json=[], headers={"X-API-Key": "wrong-key"})
    [message] = _inbound(session)
    assert message.channel == "kaleidofin"
    assert message.outcome == "unauthenticated"
    assert message.status_code == 401
    assert message.headers["X-Api-Key"] == "[REDACTED]"
    assert message.body == b"[]"


def test_digiledge_missing_key_gets_the_ack_shape(client):
    response = client.post("/digiledge/payment-notification", json={})
    assert response.status_code == 401
    assert set(response.json) == {"reason", "code", "status"}
    assert response.json["code"] == 401


@pytest.mark.parametrize("settings_overrides", [{"kaleidofin_previous_api_key": "old-key-0123456789"}])
def test_previous_key_stays_valid_during_rotation(client, settings_overrides):
    for key in (KALEIDOFIN_KEY, "old-key-0123456789"):
        response = client.post("/bills/no-such-endpoint", json=[], headers={"X-API-Key": key})
        assert response.status_code == 404  # authenticated, then routed


@pytest.mark.parametrize("settings_overrides", [{"kaleidofin_api_key_header": "X-Partner-Key"}])
def test_api_key_header_name_is_configurable(client, settings_overrides):
    assert client.post(PROBE, json=[], headers={"X-API-Key": KALEIDOFIN_KEY}).status_code == 401
    response = client.post("/bills/nothing", json=[], headers={"X-Partner-Key": KALEIDOFIN_KEY})
    assert response.status_code == 404


BASIC = {
    "kaleidofin_auth_scheme": "basic",
    "kaleidofin_basic_username": "kaleidofin",
    "kaleidofin_basic_password": "s3cret-pass",
}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("settings_overrides", [BASIC])
def test_basic_auth_accepts_the_configured_pair(client, settings_overrides):
    response = client.post("/bills/nothing", json=[], headers=_basic("kaleidofin", "s3cret-pass"))
    assert response.status_code == 404


@pytest.mark.parametrize("settings_overrides", [BASIC])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        _basic("kaleidofin", "wrong-pass!"),
        _basic("someone", "s3cret-pass"),
        {"Authorization": "Basic not-base64!!"},
        {"Authorization": "Bearer s3cret-pass"},
    ],
)
def test_basic_auth_refuses_anything_else(client, settings_overrides, headers):
    assert client.post(PROBE, json=[], headers=headers).status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"kaleidofin_allowed_networks": ["10.20.0.0/16"]}])
def test_source_outside_the_allow_list_is_403(client, settings_overrides):
    headers = {"X-API-Key": KALEIDOFIN_KEY}
    assert client.post(PROBE, json=[], headers=headers).status_code == 403
    inside = client.post("/bills/nothing", json=[], headers=headers, environ_base={"REMOTE_ADDR": "10.20.3.4"})
    assert inside.status_code == 404
