import pytest

from biller_server.clients.base import Outcome, PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.cashfree import PATH, CashfreeClient
from biller_server.clients.http import Timeouts
from tests.fakes import payloads
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply, closed_port_url, malformed_json, server_error

TIMEOUTS = Timeouts(connect=0.5, read=0.3)
SECRET = "cashfree-secret-value"


@pytest.fixture
def client(fake_partner):
    client = CashfreeClient(base_url=fake_partner.url, client_id="cf-id", client_secret=SECRET, timeouts=TIMEOUTS)
    yield client
    client.close()


def test_polls_with_both_reference_ids_and_the_client_headers(client, fake_partner):
    fake_partner.reply("POST", PATH, Reply(body=payloads.CASHFREE_PENDING))
    context = payment_context(partner_txn_ref="REF20240501ABC123", customer_txn_ref="TXN20240501XYZ789")

    result = client.check_payment(context, calls=[])

    assert result.outcome is Outcome.PENDING
    [request] = fake_partner.received("POST", PATH)
    assert request.json() == {"bill_fetch_ref_id": "REF20240501ABC123", "transaction_ref_id": "TXN20240501XYZ789"}
    assert request.headers["x-client-id"] == "cf-id"
    assert request.headers["x-client-secret"] == SECRET


def test_success_example(client, fake_partner):
    fake_partner.reply("POST", PATH, Reply(body=payloads.CASHFREE_SUCCESS))

    result = client.check_payment(payment_context(), calls=[])

    assert result.outcome is Outcome.SUCCEEDED
    assert result.raw_status == "success"
    assert result.receipt == "APPR123456"
    assert result.reason_codes == [{"response_code": "000", "approval_ref_num": "APPR123456"}]


def test_failed_example_keeps_the_reason_codes(client, fake_partner):
    fake_partner.reply("POST", PATH, Reply(body=payloads.CASHFREE_FAILED))

    result = client.check_payment(payment_context(), calls=[])

    assert result.outcome is Outcome.FAILED
    assert result.reason == "Biller unavailable; Transaction declined by biller"
    assert result.reason_codes == [{"response_code": "BM001", "compliance_resp_cd": "C001"}]


def test_bad_request_stops_and_unauthorized_retries(client, fake_partner):
    fake_partner.reply("POST", PATH, Reply(status=400, body=payloads.CASHFREE_BAD_REQUEST))
    with pytest.raises(PartnerRejectedRequest, match="Validation error description"):
        client.check_payment(payment_context(), calls=[])

    fake_partner.reply("POST", PATH, Reply(status=401, body=payloads.CASHFREE_UNAUTHORIZED))
    with pytest.raises(PartnerUnavailable, match="HTTP 401"):
        client.check_payment(payment_context(), calls=[])


def test_the_client_secret_is_never_recorded(client, fake_partner):
    fake_partner.reply("POST", PATH, Reply(status=500, body={"echo": SECRET}))
    calls = []

    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=calls)

    assert SECRET not in (calls[0].response_body or "")


@pytest.mark.parametrize(
    "reply",
    [server_error(), malformed_json(), Reply(body=payloads.CASHFREE_SUCCESS, delay=0.6)],
    ids=["5xx", "malformed-json", "timeout"],
)
def test_transport_failures_are_retryable(client, fake_partner, reply):
    fake_partner.reply("POST", PATH, reply)

    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=[])


def test_connection_refused_is_retryable():
    client = CashfreeClient(base_url=closed_port_url(), client_id="i", client_secret=SECRET, timeouts=TIMEOUTS)
    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=[])
    client.close()
