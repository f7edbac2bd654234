import datetime as dt
import json

import pytest
import sqlalchemy as sa

from biller_server.clients.base import Outcome, PartnerNotConfigured, PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.digiledge import DigiledgeClient, status_result_from_notification
from biller_server.clients.http import Timeouts
from biller_server.clients.registry import PartnerClients
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.engine import ConfirmationEngine
from biller_server.persistence.models import BillStatus, Channel, JobState, OutboundCall, PaymentStatus
from tests.fakes import payloads
from tests.fakes.digiledge_bou import notification_body
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply, closed_port_url, malformed_json, server_error
from tests.jobs.conftest import START, job_of, received_payment, run_until_idle

TIMEOUTS = Timeouts(connect=0.5, read=0.3)
OURS = "127829461946"  # payment_context()'s partner_txn_ref: the refId we ask about


def answer(status, reason="String", error=None, ref_id=OURS):
    """The notification example (the Payment Status answer's shape) with its brackets closed, about ``ref_id``."""
    body = json.loads(payloads.digiledge_notification(status, reason, error))
    body["refId"] = body["ack"]["refId"] = ref_id
    return body


@pytest.fixture
def client(fake_partner):
    client = DigiledgeClient(
        payment_status_url=f"{fake_partner.url}/paymentStatus", biller_id="BILLER42", timeouts=TIMEOUTS
    )
    yield client
    client.close()


def test_payment_status_posts_ref_id_and_biller_id(client, fake_partner):
    fake_partner.reply("POST", "/paymentStatus", Reply(body=answer("Successful", "", ref_id="REF123")))

    result = client.check_payment(payment_context(partner_txn_ref="REF123"), calls=[])

    assert result.outcome is Outcome.SUCCEEDED
    assert result.raw_status == "Successful"
    [request] = fake_partner.received("POST", "/paymentStatus")
    assert request.json() == {"refId": "REF123", "billerId": "BILLER42"}


def test_failure_keeps_the_reason_and_the_error_codes(client, fake_partner):
    body = answer("Failure", "Amount mismatch", error=("BFR004", "Payment amount mismatch"))
    fake_partner.reply("POST", "/paymentStatus", Reply(body=body))

    result = client.check_payment(payment_context(), calls=[])

    assert result.outcome is Outcome.FAILED
    assert result.reason == "Amount mismatch"
    assert result.reason_codes == [{"errorCd": "BFR004", "errorDtl": "Payment amount mismatch"}]


def test_the_completed_notification_example_with_its_placeholder_status_is_pending(client, fake_partner):
    # "status":"String" is no documented word: it must never confirm or fail a payment. The example, verbatim but
    # for its closing brackets, is about the refId "String": asked about that refId, only its status decides.
    fake_partner.reply("POST", "/paymentStatus", Reply(body=payloads.digiledge_notification("String")))

    result = client.check_payment(payment_context(partner_txn_ref="String"), calls=[])

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
        (Reply(body=answer("Successful"), delay=0.6), PartnerUnavailable),
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


# --- A verdict only from an answer about this payment: an error acknowledgement or another refId's answer never
# fails it (docs/channels/digiledge.md, "Payment Status API: whose answer is it?"). ---


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "Invalid billerId", "code": 400, "status": "Failure"},
        {"reason": "refId missing", "code": "422", "status": "INVALID"},
    ],
    ids=["code-400", "string-code-422"],
)
def test_an_error_acknowledgement_with_http_200_is_a_rejection_not_a_failure(client, fake_partner, body):
    fake_partner.reply("POST", "/paymentStatus", Reply(body=body))
    calls = []

    with pytest.raises(PartnerRejectedRequest, match=body["reason"]):
        client.check_payment(payment_context(), calls=calls)

    assert calls[-1].error.startswith("rejected: code ")


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "Service busy", "code": 503, "status": "Failure"},
        {"reason": "key expired", "code": 401, "status": "Failure"},
        {"reason": "slow down", "code": "429", "status": "Failure"},
        {"reason": "Response received", "code": 200, "status": "Successful"},
        {"reason": "x", "code": "String", "status": "Failure"},
    ],
    ids=["code-503", "code-401", "code-429", "code-200", "placeholder-code"],
)
def test_an_acknowledgement_that_is_no_rejection_is_retried_never_read_as_a_verdict(client, fake_partner, body):
    fake_partner.reply("POST", "/paymentStatus", Reply(body={**body, "refId": OURS}))
    calls = []

    with pytest.raises(PartnerUnavailable, match="acknowledgement instead of a status answer"):
        client.check_payment(payment_context(), calls=calls)

    assert calls[-1].error.startswith("an acknowledgement, no verdict")


def test_an_error_acknowledgement_with_code_404_is_not_found_as_http_404(client, fake_partner):
    fake_partner.reply("POST", "/paymentStatus", Reply(body={"reason": "refId not found", "code": 404, "status": "x"}))

    result = client.check_payment(payment_context(), calls=[])

    assert (result.outcome, result.raw_status) == (Outcome.NOT_FOUND, "code 404")


@pytest.mark.parametrize(
    "body",
    [
        answer("Failure", "x", ref_id="SOMEONE-ELSES-REF"),
        {"refId": "SOMEONE-ELSES-REF", "status": "Failure", "reason": "x", "ack": {}},
        {**answer("Failure", "x"), "refId": "SOMEONE-ELSES-REF"},
        {**answer("Failure", "x"), "ack": {**answer("Failure", "x")["ack"], "refId": "SOMEONE-ELSES-REF"}},
        {"status": "Successful", "reason": "", "ack": {"refid": "SOMEONE-ELSES-REF", "msgId": "M1"}},
    ],
    ids=["both-refids", "root-refid-empty-ack", "root-refid-only-other", "ack-refid-only-other", "ack-refid-spelling"],
)
def test_another_refids_answer_is_pending_and_the_call_says_why(client, fake_partner, body):
    fake_partner.reply("POST", "/paymentStatus", Reply(body=body))
    calls = []

    result = client.check_payment(payment_context(partner_txn_ref=OURS), calls=calls)

    assert result.outcome is Outcome.PENDING
    assert result.raw_status == "answer about another refId"
    assert "SOMEONE-ELSES-REF" in result.reason
    assert result.reason_codes == []
    assert calls[-1].error.startswith("the answer is about refId 'SOMEONE-ELSES-REF', not '127829461946'")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"refId": OURS, "status": "Failure", "reason": "x"}, "no ack in the answer"),
        ({"refId": OURS, "status": "Failure", "reason": "x", "ack": "String"}, "no ack in the answer"),
        ({"status": "Failure", "reason": "x", "ack": {"msgId": "M1"}}, "no refId in the answer"),
        ({"refId": "", "status": "Failure", "reason": "x", "ack": {"refId": None}}, "no refId in the answer"),
        ({"refId": OURS, "reason": "x", "ack": {"refId": OURS}}, "no status in the answer"),
        (["Failure"], "the answer is no JSON object"),
    ],
    ids=["no-ack", "ack-not-an-object", "no-refid", "empty-refids", "no-status", "a-list"],
)
def test_an_answer_that_cannot_be_about_this_payment_is_retried(client, fake_partner, body, error):
    fake_partner.reply("POST", "/paymentStatus", Reply(body=body))
    calls = []

    with pytest.raises(PartnerUnavailable):
        client.check_payment(payment_context(), calls=calls)

    assert calls[-1].error == error


@pytest.mark.parametrize("where", ["root", "ack"])
def test_our_refid_at_the_root_or_in_the_ack_alone_is_enough_for_a_verdict(client, fake_partner, where):
    body = answer("Failure", "Amount mismatch")
    if where == "root":
        del body["ack"]["refId"]
    else:
        del body["refId"]
    fake_partner.reply("POST", "/paymentStatus", Reply(body=body))

    assert client.check_payment(payment_context(), calls=[]).outcome is Outcome.FAILED


def _engine(bound_sessionmaker, client, clock):
    return ConfirmationEngine(
        sessions=bound_sessionmaker,
        clients=PartnerClients(clients={"digiledge": client}),
        clock=clock,
        worker_id="test-digiledge",
    )


def test_through_the_engine_an_error_acknowledgement_never_reverses_a_good_payment(
    session, bound_sessionmaker, client, fake_partner
):
    payment = received_payment(session, confirm_with="digiledge", channel=Channel.DIGILEDGE)
    bill = payment.bill
    fake_partner.reply(
        "POST", "/paymentStatus", Reply(body={"reason": "Invalid billerId", "code": 400, "status": "Failure"})
    )
    clock = FakeClock(START)

    run_until_idle(_engine(bound_sessionmaker, client, clock), clock, until=START + dt.timedelta(days=2))

    assert len(fake_partner.received("POST", "/paymentStatus")) == 1
    session.refresh(payment)
    session.refresh(bill)
    assert (payment.status, payment.applied_to_bill) == (PaymentStatus.UNRESOLVED, True)
    assert payment.status_reason.startswith("confirmation stopped: digiledge payment_status: code 400 Failure")
    assert bill.paid_paise == payment.amount_paise  # still applied: nothing reversed
    assert job_of(session, payment).state is JobState.STOPPED


def test_through_the_engine_another_refids_failure_leaves_the_payment_for_a_person(
    session, bound_sessionmaker, client, fake_partner
):
    payment = received_payment(session, confirm_with="digiledge", channel=Channel.DIGILEDGE)
    bill = payment.bill
    fake_partner.reply("POST", "/paymentStatus", Reply(body=answer("Failure", "x", ref_id="SOMEONE-ELSES-REF")))
    clock = FakeClock(START + dt.timedelta(hours=23, minutes=55))  # the day's last two checks

    run_until_idle(_engine(bound_sessionmaker, client, clock), clock, until=START + dt.timedelta(days=2))

    assert [r.json()["refId"] for r in fake_partner.received("POST", "/paymentStatus")] == [payment.partner_txn_ref] * 2
    session.refresh(payment)
    session.refresh(bill)
    assert (payment.status, payment.applied_to_bill) == (PaymentStatus.UNRESOLVED, True)
    assert "last: pending (answer about another refId)" in payment.status_reason
    assert bill.paid_paise == payment.amount_paise
    errors = session.scalars(sa.select(OutboundCall.error).where(OutboundCall.operation == "payment_status")).all()
    assert errors and all("'SOMEONE-ELSES-REF'" in error for error in errors)


def test_through_the_engine_our_refids_failure_fails_the_payment(session, bound_sessionmaker, client, fake_partner):
    payment = received_payment(session, confirm_with="digiledge", channel=Channel.DIGILEDGE)
    bill = payment.bill
    fake_partner.reply(
        "POST", "/paymentStatus", Reply(body=notification_body(payment.partner_txn_ref, "Failure", "Amount mismatch"))
    )
    clock = FakeClock(START)

    run_until_idle(_engine(bound_sessionmaker, client, clock), clock, until=START + dt.timedelta(days=2))

    session.refresh(payment)
    session.refresh(bill)
    assert payment.status is PaymentStatus.FAILED
    assert (bill.paid_paise, bill.status) == (0, BillStatus.OPEN)
