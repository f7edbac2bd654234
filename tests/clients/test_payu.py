import urllib.parse

import pytest

from biller_server.clients.base import Outcome, PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.http import Timeouts
from biller_server.clients.payu import PayUClient
from tests.fakes import payloads
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply, closed_port_url, malformed_json, server_error

TIMEOUTS = Timeouts(connect=0.5, read=0.3)
STATUS = "/v2/nbc/status/billpayment"
SECRET = "payu-client-secret-value"


class Ticker:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def ticker():
    return Ticker()


@pytest.fixture
def client(fake_partner, ticker):
    fake_partner.reply("POST", "/oauth/token", Reply(body=payloads.PAYU_TOKEN))
    client = PayUClient(
        base_url=fake_partner.url,
        token_url=f"{fake_partner.url}/oauth/token",
        client_id="payu-client",
        client_secret=SECRET,
        timeouts=TIMEOUTS,
        token_refresh_margin_seconds=60,
        monotonic=ticker,
    )
    yield client
    client.close()


@pytest.mark.parametrize(
    ("example", "outcome", "raw"),
    [
        (payloads.PAYU_SUCCESS, Outcome.SUCCEEDED, "PAYMENT_SUCCESS"),
        (payloads.PAYU_FAILURE, Outcome.FAILED, "PAYMENT_FAILURE"),
        (payloads.PAYU_PENDING, Outcome.PENDING, "PAYMENT_PENDING"),
        (payloads.PAYU_RECORD_NOT_FOUND, Outcome.NOT_FOUND, "RECORD_NOT_FOUND"),
    ],
)
def test_every_documented_example(client, fake_partner, example, outcome, raw):
    fake_partner.reply("GET", STATUS, Reply(body=example))

    result = client.check_payment(payment_context(partner_txn_ref="REF-9"), calls=[])

    assert (result.outcome, result.raw_status) == (outcome, raw)
    [request] = fake_partner.received("GET", STATUS)
    assert request.query == {"refId": ["REF-9"]}
    assert request.headers["authorization"] == f"Bearer {payloads.PAYU_TOKEN['access_token']}"


def test_token_is_asked_with_client_credentials_and_scope_read_transactions(client, fake_partner):
    fake_partner.reply("GET", STATUS, Reply(body=payloads.PAYU_PENDING))

    client.check_payment(payment_context(), calls=[])

    [token_request] = fake_partner.received("POST", "/oauth/token")
    assert dict(urllib.parse.parse_qsl(token_request.body.decode())) == {
        "client_id": "payu-client",
        "client_secret": SECRET,
        "grant_type": "client_credentials",
        "scope": "read_transactions",
    }


def test_token_is_cached_until_shortly_before_it_expires(client, fake_partner, ticker):
    fake_partner.reply("GET", STATUS, Reply(body=payloads.PAYU_PENDING))

    client.check_payment(payment_context(), calls=[])
    ticker.now += 7200 - 61  # still more than the 60 s margin left
    client.check_payment(payment_context(), calls=[])
    assert len(fake_partner.received("POST", "/oauth/token")) == 1

    ticker.now += 2  # inside the margin: refreshed early
    client.check_payment(payment_context(), calls=[])
    assert len(fake_partner.received("POST", "/oauth/token")) == 2


def test_a_401_drops_the_token_once_and_asks_again(client, fake_partner):
    fake_partner.reply(
        "GET", STATUS, Reply(status=401, body={"message": "token revoked"}), Reply(body=payloads.PAYU_SUCCESS)
    )
    calls = []

    result = client.check_payment(payment_context(), calls=calls)

    assert result.outcome is Outcome.SUCCEEDED
    assert len(fake_partner.received("POST", "/oauth/token")) == 2
    assert [call.operation for call in calls] == ["token", "status", "token", "status"]


def test_a_second_401_is_retried_later_not_stopped(client, fake_partner):
    fake_partner.reply("GET", STATUS, Reply(status=401, body={"message": "unauthorized"}))

    with pytest.raises(PartnerUnavailable, match="HTTP 401"):
        client.check_payment(payment_context(), calls=[])
    assert len(fake_partner.received("GET", STATUS)) == 2


def test_the_token_and_the_secret_are_never_recorded(client, fake_partner):
    fake_partner.reply("GET", STATUS, Reply(body=payloads.PAYU_SUCCESS))
    calls = []

    client.check_payment(payment_context(), calls=calls)

    stored = " ".join(f"{c.url} {c.request_body} {c.response_body} {c.error}" for c in calls)
    assert SECRET not in stored
    assert payloads.PAYU_TOKEN["access_token"] not in stored
    assert "client_secret=%5BREDACTED%5D" in calls[0].request_body


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (server_error(), PartnerUnavailable),
        (malformed_json(), PartnerUnavailable),
        (Reply(body=payloads.PAYU_SUCCESS, delay=0.6), PartnerUnavailable),
        (Reply(body={"code": 0, "status": "FAILURE", "payload": None}), PartnerUnavailable),
        (
            Reply(status=400, body={"code": 0, "status": "FAILURE", "message": "refId is mandatory"}),
            PartnerRejectedRequest,
        ),
    ],
    ids=["5xx", "malformed-json", "timeout", "web-service-failure", "400"],
)
def test_failures(client, fake_partner, reply, error):
    fake_partner.reply("GET", STATUS, reply)

    with pytest.raises(error):
        client.check_payment(payment_context(), calls=[])


def test_token_endpoint_down_is_retryable(fake_partner):
    client = PayUClient(
        base_url=fake_partner.url, token_url=closed_port_url(), client_id="c", client_secret=SECRET, timeouts=TIMEOUTS
    )
    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=[])
    client.close()
