import pytest

from biller_server.clients.base import Outcome, PartnerUnavailable
from biller_server.clients.http import Timeouts
from biller_server.clients.setu import SetuClient
from tests.fakes import payloads
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply, closed_port_url, malformed_json, server_error

TIMEOUTS = Timeouts(connect=0.5, read=0.3)
SECRET = "setu-secret-value"


@pytest.fixture
def client(fake_partner):
    fake_partner.reply("POST", "/api/v2/auth/token", Reply(body=payloads.SETU_TOKEN))
    client = SetuClient(
        payment_status_url=f"{fake_partner.url}/api/v2/bbps/payments/status",
        token_url=f"{fake_partner.url}/api/v2/auth/token",
        client_id="setu-client",
        client_secret=SECRET,
        product_instance_id="PI-1",
        timeouts=TIMEOUTS,
    )
    yield client
    client.close()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("Execution Awaited", Outcome.PENDING),
        ("Settled", Outcome.SUCCEEDED),
        ("Cancelled", Outcome.FAILED),
        ("Rejected", Outcome.FAILED),
        ("SETTLED", Outcome.SUCCEEDED),
        ("Unheard Of", Outcome.PENDING),
    ],
)
def test_every_polling_status(client, fake_partner, status, outcome):
    fake_partner.reply("POST", "/api/v2/bbps/payments/status", Reply(body=payloads.setu_payment_status(status)))

    result = client.check_payment(payment_context(), calls=[])

    assert (result.outcome, result.raw_status) == (outcome, status)


def test_asks_with_the_same_kept_context_and_the_token(client, fake_partner):
    fake_partner.reply("POST", "/api/v2/bbps/payments/status", Reply(body=payloads.setu_payment_status("Settled")))
    context = payment_context(extra={"setu_context": {"refId": "SETU-REF-1", "billerId": "LOAN01"}})

    client.check_payment(context, calls=[])
    client.check_payment(context, calls=[])

    requests = fake_partner.received("POST", "/api/v2/bbps/payments/status")
    assert [r.json() for r in requests] == [{"refId": "SETU-REF-1", "billerId": "LOAN01"}] * 2
    assert requests[0].headers["authorization"] == "Bearer setu-access-token-abc123"
    assert requests[0].headers["x-setu-product-instance-id"] == "PI-1"
    [token_request] = fake_partner.received("POST", "/api/v2/auth/token")
    assert token_request.json() == {"clientID": "setu-client", "secret": SECRET}


def test_the_secret_and_token_are_never_recorded(client, fake_partner):
    fake_partner.reply("POST", "/api/v2/bbps/payments/status", Reply(body=payloads.setu_payment_status("Settled")))
    calls = []

    client.check_payment(payment_context(), calls=calls)

    stored = " ".join(f"{c.request_body} {c.response_body}" for c in calls)
    assert SECRET not in stored
    assert "setu-access-token-abc123" not in stored


@pytest.mark.parametrize(
    "reply",
    [server_error(), malformed_json(), Reply(body=payloads.setu_payment_status("Settled"), delay=0.6)],
    ids=["5xx", "malformed-json", "timeout"],
)
def test_transport_failures_are_retryable(client, fake_partner, reply):
    fake_partner.reply("POST", "/api/v2/bbps/payments/status", reply)

    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=[])


def test_connection_refused_is_retryable():
    client = SetuClient(
        payment_status_url=closed_port_url(),
        token_url=closed_port_url(),
        client_id="c",
        client_secret=SECRET,
        timeouts=TIMEOUTS,
    )
    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=[])
    client.close()
