import pytest

from biller_server.clients.base import Outcome, PartnerNotConfigured, PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.digiledge import DigiledgeClient, status_result_from_notification
from biller_server.clients.http import Timeouts
from tests.fakes import payloads
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply, closed_port_url, malformed_json, server_error

TIMEOUTS = Timeouts(connect=0.5, read=0.3)


@pytest.fixture
def client(fake_partner):
    client = DigiledgeClient(
        payment_status_url=f"{fake_partner.url}/paymentStatus", biller_id="BILLER42", timeouts=TIMEOUTS
    )
    yield client
    client.close()


def test_payment_status_posts_ref_id_and_biller_id(client, fake_partner):
    fake_partner.reply("POST", "/paymentStatus", Reply(body=payloads.digiledge_notification("Successful", "")))

    result = client.check_payment(payment_context(partner_txn_ref="REF123"), calls=[])

    assert result.outcome is Outcome.SUCCEEDED
    assert result.raw_status == "Successful"
    [request] = fake_partner.received("POST", "/paymentStatus")
    assert request.json() == {"refId": "REF123", "billerId": "BILLER42"}


def test_failure_keeps_the_reason_and_the_error_codes(client, fake_partner):
    body = payloads.digiledge_notification("Failure", "Amount mismatch", error=("BFR004", "Payment amount mismatch"))
    fake_partner.reply("POST", "/paymentStatus", Reply(body=body))

    result = client.check_payment(payment_context(), calls=[])

    assert result.outcome is Outcome.FAILED
    assert result.reason == "Amount mismatch"
    assert result.reason_codes == [{"errorCd": "BFR004", "errorDtl": "Payment amount mismatch"}]


def test_the_completed_notification_example_with_its_placeholder_status_is_pending(client, fake_partner):
    # "status":"String" is no documented word: it must never confirm or fail a payment.
    fake_partner.reply("POST", "/paymentStatus", Reply(body=payloads.digiledge_notification("String")))

    result = client.check_payment(payment_context(), calls=[])

    assert result.outcome is Outcome.PENDING
    assert result.reason_codes == [{"errorCd": "String", "errorDtl": "String"}]


@pytest.mark.parametrize(
    "published", [payloads.DIGILEDGE_PAYMENT_STATUS_AS_PUBLISHED, payloads.DIGILEDGE_NOTIFICATION_AS_PUBLISHED]
)
def test_the_examples_as_published_are_malformed_json_and_retried(client, fake_partner, published):
    fake_partner.reply("POST", "/paymentStatus", Reply(body=published))

    with pytest.raises(PartnerUnavailable, match="malformed JSON"):
        client.check_payment(payment_context(), calls=[])


def test_error_messages_given_as_one_object_as_the_table_types_it():
    result = status_result_from_notification(
        {"status": "Failure", "reason": "x", "ack": {"errorMessages": {"errorCd": "E1", "errorDtl": "d"}}}
    )

    assert result.reason_codes == [{"errorCd": "E1", "errorDtl": "d"}]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (server_error(), PartnerUnavailable),
        (malformed_json(), PartnerUnavailable),
        (Reply(body=payloads.digiledge_notification("Successful"), delay=0.6), PartnerUnavailable),
        (
            Reply(status=400, body={"reason": "billerId missing", "code": 400, "status": "FAILURE"}),
            PartnerRejectedRequest,
        ),
        (Reply(status=200, body={"refId": "x"}), PartnerUnavailable),
    ],
    ids=["5xx", "malformed-json", "timeout", "400", "no-status"],
)
def test_failures(client, fake_partner, reply, error):
    fake_partner.reply("POST", "/paymentStatus", reply)

    with pytest.raises(error):
        client.check_payment(payment_context(), calls=[])


def test_unknown_ref_id_404_is_not_found(client, fake_partner):
    assert client.check_payment(payment_context(), calls=[]).outcome is Outcome.NOT_FOUND


def test_connection_refused_is_retryable():
    client = DigiledgeClient(payment_status_url=closed_port_url(), biller_id="B", timeouts=TIMEOUTS)
    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=[])
    client.close()


def test_unconfigured_names_the_settings():
    client = DigiledgeClient(payment_status_url=None, biller_id=None, timeouts=TIMEOUTS)
    with pytest.raises(PartnerNotConfigured, match="BILLER_DIGILEDGE_PAYMENT_STATUS_URL"):
        client.check_payment(payment_context(), calls=[])
    client.close()
