"""Authentication on the Setu channel as Setu configures it (setu-jwt.mdx): JWT HS256 with aud, iat within 120 s and
a jti per request; HTTP Basic and an API key as the alternatives; the source allow-list. Refusals are Setu's
errorResponse, and nothing but the inbound log is written before authentication."""

import base64
import json
import time
import types

import pytest
import sqlalchemy as sa

from biller_server.http import auth
from biller_server.persistence.models import Payment
from tests.factories import BillFactory
from tests.fakes import setu_payloads as published_pages
from tests.fakes.setu_payloads import published
from tests.http.test_jwt_auth import AUDIENCE, SECRET, token

SETU_JWT = {"setu_auth_scheme": "jwt", "setu_jwt_secret": SECRET, "setu_jwt_audience": AUDIENCE}
FETCH = "/setu/bills/fetch"
RECEIPT = "/setu/bills/fetchReceipt"
# The sample's iat (setu-jwt.mdx): 2019-10-31T03:42:36Z.
SAMPLE_IAT = 1572493356


def error_code(response):
    body = response.get_json()
    assert body["success"] is False and body["status"] == response.status_code
    return body["error"]["code"]


def frozen_clock(monkeypatch, at):
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: at))


class TestJwt:
    pytestmark = pytest.mark.parametrize("settings_overrides", [SETU_JWT])

    def test_the_pages_sample_token_is_refused_under_another_secret(self, client, monkeypatch):
        frozen_clock(monkeypatch, SAMPLE_IAT + 10)

        response = client.post(
            FETCH,
            json=published(published_pages.FETCH_BILL_REQUEST),
            headers={"Authorization": f"Bearer {published_pages.JWT_SAMPLE_TOKEN}"},
        )

        # Verified against the settings' secret and audience, not the sample's: refused as badly signed.
        assert response.status_code == 401
        assert error_code(response) == "jwt-verification-failed"

    def test_a_fresh_token_opens_every_setu_path(self, client):
        for path in (FETCH, "/setu/customer/validate", RECEIPT, "/setu/notifications"):
            assert client.post(path, json={}, headers=token()).status_code == 400, path  # past auth: the body

    def test_a_token_121_seconds_old_is_jwt_token_expired(self, client):
        response = client.post(FETCH, json={}, headers=token(iat=int(time.time()) - 121))

        assert (response.status_code, error_code(response)) == (401, "jwt-token-expired")

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param(token(aud="another-scheme"), id="wrong aud"),
            pytest.param(token(secret="another-secret-" + "x" * 40), id="other secret"),
            pytest.param(token(drop=("jti",)), id="no jti"),
            pytest.param(token(drop=("iat",)), id="no iat"),
            pytest.param({}, id="no token"),
            pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="another scheme"),
        ],
    )
    def test_an_unverifiable_token_is_jwt_verification_failed(self, client, session, headers):
        response = client.post(RECEIPT, json=published(published_pages.FETCH_RECEIPT_REQUEST), headers=headers)

        assert (response.status_code, error_code(response)) == (401, "jwt-verification-failed")
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0

    def test_alg_none_is_refused(self, client):
        claims = {"aud": AUDIENCE, "iat": int(time.time()), "jti": "none-alg"}
        header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

        response = client.post(FETCH, json={}, headers={"Authorization": f"Bearer {header}.{payload}."})

        assert (response.status_code, error_code(response)) == (401, "jwt-verification-failed")

    def test_a_jti_reused_with_another_body_is_425_duplicate_request(self, client, session):
        BillFactory(partner_bill_id="891234567", amount_paise=1000)
        headers = token(jti="setu-request-1")
        body = published(published_pages.FETCH_RECEIPT_REQUEST)
        assert client.post(RECEIPT, json=body, headers=headers).status_code == 200
        body["paymentDetails"]["uniquePaymentRefID"] = "ANOTHER"

        response = client.post(RECEIPT, json=body, headers=headers)

        assert (response.status_code, error_code(response)) == (425, "duplicate-request")
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1

    def test_an_exact_retry_with_the_same_token_gets_the_same_receipt(self, client, session):
        BillFactory(partner_bill_id="891234567", amount_paise=1000)
        headers = token(jti="setu-request-2")
        text = json.dumps(published(published_pages.FETCH_RECEIPT_REQUEST))
        first = client.post(RECEIPT, data=text, headers={**headers, "Content-Type": "application/json"})
        again = client.post(RECEIPT, data=text, headers={**headers, "Content-Type": "application/json"})

        assert (first.status_code, again.status_code) == (200, 200)
        assert first.get_json() == again.get_json()
        assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1


class TestSampleToken:
    """The page's own token, verified with the page's own secret and audience, at the page's moment."""

    pytestmark = pytest.mark.parametrize(
        "settings_overrides",
        [
            {
                "setu_auth_scheme": "jwt",
                "setu_jwt_secret": published_pages.JWT_SAMPLE_SECRET,
                "setu_jwt_audience": published_pages.JWT_SAMPLE_AUDIENCE,
            }
        ],
    )

    def test_accepted_ten_seconds_after_it_was_issued(self, client, monkeypatch):
        frozen_clock(monkeypatch, SAMPLE_IAT + 10)

        response = client.post(
            FETCH,
            json=published(published_pages.FETCH_BILL_REQUEST),
            headers={"Authorization": f"Bearer {published_pages.JWT_SAMPLE_TOKEN}"},
        )

        assert (response.status_code, error_code(response)) == (400, "customer-not-found")  # past authentication

    def test_expired_121_seconds_after_it_was_issued(self, client, monkeypatch):
        frozen_clock(monkeypatch, SAMPLE_IAT + 121)

        response = client.post(FETCH, json={}, headers={"Authorization": f"Bearer {published_pages.JWT_SAMPLE_TOKEN}"})

        assert (response.status_code, error_code(response)) == (401, "jwt-token-expired")


@pytest.mark.parametrize(
    "settings_overrides",
    [{"setu_auth_scheme": "basic", "setu_basic_username": "setu", "setu_basic_password": "bridge-password"}],
)
def test_basic_credentials_set_on_the_bridge(client, settings_overrides):
    good = base64.b64encode(b"setu:bridge-password").decode()
    bad = base64.b64encode(b"setu:guess").decode()

    assert client.post(FETCH, json={}, headers={"Authorization": f"Basic {good}"}).status_code == 400
    refused = client.post(FETCH, json={}, headers={"Authorization": f"Basic {bad}"})
    assert (refused.status_code, error_code(refused)) == (401, "unauthorised")


def test_an_api_key_for_another_channel_does_not_open_setu(client, kaleidofin_headers, setu_headers):
    assert client.post(FETCH, json={}, headers=setu_headers).status_code == 400
    refused = client.post(FETCH, json={}, headers=kaleidofin_headers)
    assert (refused.status_code, error_code(refused)) == (401, "unauthorised")


@pytest.mark.parametrize("settings_overrides", [{"setu_allowed_networks": ["10.20.0.0/16"]}])
def test_a_source_outside_setus_addresses_is_403_forbidden(client, setu_headers, settings_overrides):
    refused = client.post(FETCH, json={}, headers=setu_headers)
    allowed = client.post(FETCH, json={}, headers=setu_headers, environ_base={"REMOTE_ADDR": "10.20.1.2"})

    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    assert allowed.status_code == 400
