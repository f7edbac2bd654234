import json
from pathlib import Path

import pytest

from biller_server.clients.base import Outcome, PartnerNotConfigured, PartnerUnavailable
from biller_server.clients.http import Timeouts
from biller_server.clients.setu import BILL_STATUS_OUTCOMES, SetuClient
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


# BillCollect: a payment Setu posted to us (fetchReceipt) is asked about by its bill, GET /utilities/bills/{id}.
BILL_ID = "906910589572351478"
BILL_PATH = f"/api/v2/utilities/bills/{BILL_ID}"
SETU_CONTEXT = {
    "platformBillID": BILL_ID,
    "uniquePaymentRefID": "PP012151MYB616O9BSY1",
    "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
    "refId": "PP012151MYB616O9BSY1",
}


def billcollect_context():
    return payment_context(channel="setu", partner_bill_ref=BILL_ID, extra={"setu_context": SETU_CONTEXT})


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("BILL_CREATED", Outcome.PENDING),
        ("PAYMENT_SUCCESSFUL", Outcome.SUCCEEDED),
        ("CREDIT_RECEIVED", Outcome.SUCCEEDED),
        ("SETTLEMENT_SUCCESSFUL", Outcome.SUCCEEDED),
        ("SETTLEMENT_FAILED", Outcome.SUCCEEDED),
        ("PAYMENT_FAILED", Outcome.FAILED),
        ("PAYMENT_ATTEMPT_FAILED", Outcome.PENDING),
        ("BILL_EXPIRED", Outcome.NOT_FOUND),
        ("SOMETHING_NEW", Outcome.PENDING),
    ],
)
def test_every_billcollect_bill_status(client, fake_partner, status, outcome):
    fake_partner.reply("GET", BILL_PATH, Reply(body=payloads.setu_bill(status)))

    result = client.check_payment(billcollect_context(), calls=[])

    assert (result.outcome, result.raw_status) == (outcome, status)


def test_every_status_of_the_spec_is_mapped():
    spec = Path("/work/shared/partner-docs/setu-billcollect-openapi.json")
    if not spec.exists():
        pytest.skip("partner documents not present")
    statuses = json.loads(spec.read_text())["definitions"]["setuBillStatus"]["enum"]
    assert sorted(BILL_STATUS_OUTCOMES) == sorted(statuses)


def test_billcollect_asks_by_the_bill_with_the_token_and_product_instance(client, fake_partner):
    fake_partner.reply("GET", BILL_PATH, Reply(body=payloads.setu_bill("PAYMENT_SUCCESSFUL")))
    calls = []

    result = client.check_payment(billcollect_context(), calls=calls)

    [request] = fake_partner.received("GET", BILL_PATH)
    assert request.headers["authorization"] == "Bearer setu-access-token-abc123"
    assert request.headers["x-setu-product-instance-id"] == "PI-1"
    assert fake_partner.received("POST", "/api/v2/bbps/payments/status") == []
    assert result.receipt == "XYZ987-891234567"
    assert [(c.operation, c.method) for c in calls] == [("token", "POST"), ("get_bill", "GET")]
    assert calls[-1].url.endswith(BILL_PATH) and calls[-1].response_status == 200


def test_a_deemed_bill_says_so_in_the_reason(client, fake_partner):
    fake_partner.reply("GET", BILL_PATH, Reply(body=payloads.setu_bill("PAYMENT_SUCCESSFUL", deemed="DEEMED")))

    result = client.check_payment(billcollect_context(), calls=[])

    assert result.reason == "deemedBillStatus DEEMED"


def test_an_unknown_bill_is_not_found(client, fake_partner):
    error = {"status": 404, "success": False, "error": {"code": "bill-not-found", "title": "not found"}}
    fake_partner.reply("GET", BILL_PATH, Reply(status=404, body=error))

    result = client.check_payment(billcollect_context(), calls=[])

    assert result.outcome is Outcome.NOT_FOUND


@pytest.mark.parametrize(
    "reply",
    [
        server_error(),
        malformed_json(),
        Reply(status=429, body={"status": 429, "success": False}),
        Reply(body={"status": 200, "success": True, "data": {"platformBillID": BILL_ID}}),
        Reply(body={"status": 200, "success": True, "data": "PAYMENT_SUCCESSFUL"}),
        Reply(body=["PAYMENT_SUCCESSFUL"]),
        Reply(body=payloads.setu_bill("PAYMENT_SUCCESSFUL"), delay=0.6),
    ],
    ids=["5xx", "malformed-json", "429", "no-status", "data-not-an-object", "not-an-object", "timeout"],
)
def test_billcollect_failures_are_retried_not_decided(client, fake_partner, reply):
    fake_partner.reply("GET", BILL_PATH, reply)
    calls = []

    with pytest.raises(PartnerUnavailable):
        client.check_payment(billcollect_context(), calls=calls)
    assert calls[-1].operation == "get_bill" and calls[-1].error


def test_billcollect_needs_the_product_instance(fake_partner):
    client = SetuClient(
        payment_status_url=None,
        token_url=f"{fake_partner.url}/api/v2/auth/token",
        client_id="setu-client",
        client_secret=SECRET,
        timeouts=TIMEOUTS,
    )
    calls = []

    with pytest.raises(PartnerNotConfigured, match="BILLER_SETU_PRODUCT_INSTANCE_ID"):
        client.check_payment(billcollect_context(), calls=calls)
    assert calls == []
    client.close()


def test_billcollect_reads_the_bills_api_beside_the_token_url(fake_partner):
    client = SetuClient(
        payment_status_url=None,
        token_url=f"{fake_partner.url}/api/v2/token",
        client_id="setu-client",
        client_secret=SECRET,
        product_instance_id="PI-1",
        timeouts=TIMEOUTS,
    )

    with pytest.raises(PartnerNotConfigured, match="must end with /auth/token"):
        client.check_payment(billcollect_context(), calls=[])
    client.close()
