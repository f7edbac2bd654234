import pytest

from biller_server.clients.base import (
    Outcome,
    PartnerNotConfigured,
    PartnerRejectedRequest,
    PartnerUnavailable,
)
from biller_server.clients.http import Timeouts
from biller_server.clients.kaleidofin import KaleidofinClient, _system_bill_id_json
from tests.fakes import payloads
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply, closed_port_url, malformed_json, server_error

TIMEOUTS = Timeouts(connect=0.5, read=0.3)


@pytest.fixture
def client(fake_partner):
    client = KaleidofinClient(
        status_url=f"{fake_partner.url}/status",
        payment_url=f"{fake_partner.url}/payment",
        fetch_bills_url=f"{fake_partner.url}/fetchBills",
        biller_id="LENDER01",
        api_key="kaleidofin-outbound-key-123",
        timeouts=TIMEOUTS,
    )
    yield client
    client.close()


def test_status_api_documented_example_bill_created_is_pending(client, fake_partner):
    fake_partner.reply("GET", "/status/15", Reply(body=payloads.KALEIDOFIN_STATUS))
    calls = []

    result = client.check_payment(payment_context(partner_bill_ref="15"), calls=calls)

    assert result.outcome is Outcome.PENDING
    assert result.raw_status == "BILL_CREATED"
    assert result.receipt is None
    [request] = fake_partner.received("GET", "/status/15")
    assert request.headers["x-api-key"] == "kaleidofin-outbound-key-123"
    assert len(calls) == 1
    assert calls[0].response_status == 200
    assert calls[0].url == f"{fake_partner.url}/status/15"


@pytest.mark.parametrize(
    ("bill_status", "outcome"),
    [
        ("BILL_CREATED", Outcome.PENDING),
        ("PAYMENT_SUCCESSFUL", Outcome.SUCCEEDED),
        ("CREDIT_RECEIVED", Outcome.SUCCEEDED),
        ("SETTLEMENT_SUCCESSFUL", Outcome.SUCCEEDED),
        ("SETTLEMENT_FAILED", Outcome.SUCCEEDED),
        ("PAYMENT_FAILED", Outcome.FAILED),
        ("PAYMENT_ATTEMPT_FAILED", Outcome.FAILED),
        ("BILL_EXPIRED", Outcome.NOT_FOUND),
        ("SOMETHING_NEW", Outcome.PENDING),
    ],
)
def test_status_api_maps_every_bill_status(client, fake_partner, bill_status, outcome):
    fake_partner.reply("GET", "/status/15", Reply(body=payloads.kaleidofin_status_with(bill_status)))

    result = client.check_payment(payment_context(), calls=[])

    assert result.outcome is outcome
    assert result.raw_status == bill_status


def test_status_api_unknown_bill_is_not_found(client, fake_partner):
    result = client.check_payment(payment_context(partner_bill_ref="999"), calls=[])

    assert result.outcome is Outcome.NOT_FOUND


def test_status_api_success_false_stops_with_kaleidofin_words(client, fake_partner):
    fake_partner.reply(
        "GET", "/status/15", Reply(body={"success": False, "statusCode": "1", "statusMessage": "Invalid bill"})
    )

    with pytest.raises(PartnerRejectedRequest, match="Invalid bill"):
        client.check_payment(payment_context(), calls=[])


def test_payment_api_posts_the_documented_fields_once_and_reads_the_documented_answer(client, fake_partner):
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT))
    context = payment_context(partner_bill_ref="19", partner_txn_ref="127829461946", amount_paise=100_000)

    result = client.post_payment(context, calls=[])

    assert result.outcome is Outcome.SUCCEEDED
    assert result.receipt == "R0123"
    [request] = fake_partner.received("POST", "/payment")
    assert request.json() == {
        "systemBillId": 19,
        "transactionId": "127829461946",
        "amountPaid": 1000,
        "paymentDate": "2026-11-02",
    }


def test_payment_api_timeout_raises_without_a_second_request(client, fake_partner):
    fake_partner.reply("POST", "/payment", Reply(body=payloads.KALEIDOFIN_PAYMENT, delay=0.6))

    with pytest.raises(PartnerUnavailable, match="no answer in time"):
        client.post_payment(payment_context(partner_bill_ref="19"), calls=[])

    assert len(fake_partner.received("POST", "/payment")) == 1


def test_payment_api_5xx_raises_without_a_second_request(client, fake_partner):
    fake_partner.reply("POST", "/payment", server_error())

    with pytest.raises(PartnerUnavailable, match="HTTP 503"):
        client.post_payment(payment_context(partner_bill_ref="19"), calls=[])

    assert len(fake_partner.received("POST", "/payment")) == 1


def test_fetch_bills_finds_the_system_bill_id_of_our_bill(client, fake_partner):
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=payloads.KALEIDOFIN_FETCH_BILLS))

    found = client.find_system_bill_id(payment_context(partner_bill_id="TEST-124"), calls=[])

    assert found == "17"
    [request] = fake_partner.received("POST", "/fetchBills/LENDER01")
    assert request.json() == [{"identifierKey": "customerId", "identifierValue": "AY1234"}]


def test_fetch_bills_without_our_bill_finds_nothing(client, fake_partner):
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=payloads.KALEIDOFIN_FETCH_BILLS))

    assert client.find_system_bill_id(payment_context(partner_bill_id="OTHER"), calls=[]) is None


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (server_error(), "HTTP 503"),
        (malformed_json(), "malformed JSON"),
        (Reply(body=payloads.KALEIDOFIN_STATUS, delay=0.6), "no answer in time"),
        (Reply(drop=True), "ConnectionError"),
        (Reply(status=429, body={"message": "slow down"}), "HTTP 429"),
    ],
    ids=["5xx", "malformed-json", "timeout", "dropped-connection", "rate-limited"],
)
def test_status_api_failures_are_retryable(client, fake_partner, reply, message):
    fake_partner.reply("GET", "/status/15", reply)
    calls = []

    with pytest.raises(PartnerUnavailable, match=message):
        client.check_payment(payment_context(), calls=calls)

    assert calls[0].error


def test_slow_answer_within_the_read_timeout_is_read(client, fake_partner):
    fake_partner.reply(
        "GET", "/status/15", Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL"), delay=0.1)
    )
    calls = []

    assert client.check_payment(payment_context(), calls=calls).outcome is Outcome.SUCCEEDED
    assert calls[0].latency_ms >= 100


def test_connection_refused_is_retryable():
    client = KaleidofinClient(status_url=f"{closed_port_url()}/status", timeouts=TIMEOUTS)
    calls = []

    with pytest.raises(PartnerUnavailable, match="ConnectionError"):
        client.check_payment(payment_context(), calls=calls)

    assert calls[0].response_status is None
    client.close()


def test_400_stops(client, fake_partner):
    fake_partner.reply("GET", "/status/15", Reply(status=400, body={"message": "systemBillId must be a number"}))

    with pytest.raises(PartnerRejectedRequest, match="HTTP 400"):
        client.check_payment(payment_context(), calls=[])


def test_unconfigured_status_url_names_the_setting():
    client = KaleidofinClient(status_url=None, timeouts=TIMEOUTS)

    with pytest.raises(PartnerNotConfigured, match="BILLER_KALEIDOFIN_STATUS_URL"):
        client.check_payment(payment_context(), calls=[])
    client.close()


@pytest.mark.parametrize(
    ("system_bill_id", "sent"), [("14", 14), ("\u0661\u0664", "\u0661\u0664"), ("\uff11\uff14", "\uff11\uff14")]
)
def test_only_a_system_bill_id_of_digits_0_to_9_is_sent_as_a_number(system_bill_id, sent):
    assert _system_bill_id_json(system_bill_id) == sent
    assert type(_system_bill_id_json(system_bill_id)) is type(sent)
