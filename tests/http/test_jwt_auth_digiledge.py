"""Setu's signed-request scheme on the Digiledge channel: refusals come in the acknowledgement shape."""

import pytest

from tests.http.test_jwt_auth import AUDIENCE, SECRET, token


@pytest.mark.parametrize(
    "settings_overrides",
    [{"digiledge_auth_scheme": "jwt", "digiledge_jwt_secret": SECRET, "digiledge_jwt_audience": AUDIENCE}],
)
def test_a_replayed_digiledge_request_gets_the_ack_shape(client, settings_overrides):
    headers = token(jti="digiledge-once")
    assert client.post("/digiledge/nothing-here", json={"n": 1}, headers=headers).status_code == 404
    replay = client.post("/digiledge/nothing-here", json={"n": 2}, headers=headers)
    assert replay.status_code == 425
    assert replay.json == {"reason": replay.json["reason"], "code": 425, "status": "DUPLICATE_REQUEST"}
