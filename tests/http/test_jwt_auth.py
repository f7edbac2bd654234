"""Setu's signed-request scheme (auth scheme ``jwt``): HS256, aud, iat within 120 s, and a jti used only once."""

import time
import uuid

import jwt
import pytest
import sqlalchemy as sa

from biller_server.persistence.models import Customer, RequestNonce
from tests.factories import BillFactory

SECRET = "shared-hs256-secret-" + "0123456789abcdef" * 4  # long enough for HS512 too
AUDIENCE = "biller-scheme-42"
JWT_SETTINGS = {"kaleidofin_auth_scheme": "jwt", "kaleidofin_jwt_secret": SECRET, "kaleidofin_jwt_audience": AUDIENCE}
PROBE = "/bills/nothing-here"  # authenticated requests get 404; refused ones 401/425


def token(*, secret=SECRET, aud=AUDIENCE, iat=None, jti=None, drop=(), algorithm="HS256"):
    claims = {"aud": aud, "iat": int(time.time()) if iat is None else iat, "jti": jti or uuid.uuid4().hex}
    for name in drop:
        claims.pop(name)
    return {"Authorization": "Bearer " + jwt.encode(claims, secret, algorithm=algorithm)}


pytestmark = pytest.mark.parametrize("settings_overrides", [JWT_SETTINGS])


def test_a_fresh_signed_token_is_accepted(client, settings_overrides):
    assert client.post(PROBE, json=[], headers=token()).status_code == 404


def test_the_same_token_on_another_request_is_a_replay_refused_with_425(client, session, settings_overrides):
    headers = token(jti="once-only")
    assert client.post(PROBE, json=["first"], headers=headers).status_code == 404
    replay = client.post(PROBE, json=["another body"], headers=headers)
    assert replay.status_code == 425
    assert replay.json["error"]["code"] == "duplicate-request"
    assert session.scalars(sa.select(RequestNonce.nonce)).all() == ["once-only"]


def test_an_exact_retry_of_a_signed_request_is_let_through(client, session, settings_overrides):
    # A partner that got no answer (or a 503) sends the same signed request again: same jti, same body.
    headers = token(jti="retried")
    assert client.post(PROBE, json=["same"], headers=headers).status_code == 404
    assert client.post(PROBE, json=["same"], headers=headers).status_code == 404


def test_a_retried_receipt_after_a_lost_answer_gets_the_first_receipt(client, session, settings_overrides):
    BillFactory(partner_bill_id="SAMPLE_ID", amount_paise=100_000)
    headers = token(jti="receipt-retry")
    body = {
        "systemBillId": 14,
        "partnerBillId": "SAMPLE_ID",
        "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "JWT-TXN"},
    }
    first = client.post("/bills/fetchReceipt", json=body, headers=headers)
    again = client.post("/bills/fetchReceipt", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json == again.json


def test_a_token_older_than_two_minutes_is_expired(client, settings_overrides):
    response = client.post(PROBE, json=[], headers=token(iat=int(time.time()) - 121))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "jwt-token-expired"


def test_a_token_from_the_future_is_refused(client, settings_overrides):
    response = client.post(PROBE, json=[], headers=token(iat=int(time.time()) + 60))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "jwt-verification-failed"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Authorization": "Bearer not.a.token"},
        token(secret="another-secret-" + "fedcba9876543210" * 4 + "!!!!!"),
        token(aud="someone-else"),
        token(drop=["jti"]),
        token(drop=["iat"]),
        token(drop=["aud"]),
        token(algorithm="HS512"),
    ],
    ids=["none", "basic", "garbage", "wrong-secret", "wrong-aud", "no-jti", "no-iat", "no-aud", "other-alg"],
)
def test_unverifiable_tokens_are_401_before_any_write(client, session, settings_overrides, headers):
    response = client.post(
        "/bills/fetchBills", json=[{"identifierKey": "customerId", "identifierValue": "X"}], headers=headers
    )
    assert response.status_code == 401
    assert response.json["error"]["code"] in {"jwt-verification-failed", "unauthorised"}
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(RequestNonce)) == 0


def test_unsigned_none_algorithm_token_is_refused(client, settings_overrides):
    unsigned = jwt.encode({"aud": AUDIENCE, "iat": int(time.time()), "jti": "x"}, None, algorithm="none")
    assert client.post(PROBE, json=[], headers={"Authorization": f"Bearer {unsigned}"}).status_code == 401
