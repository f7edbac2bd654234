"""POST /digiledge/TxnStatus402: acknowledged at once, the payment's status queued for Digiledge's
POST /TxnStatusResponse. digiledge-status-402-api.md has no example; the request follows its table."""

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import BillStatus, Channel, InboundMessage, PaymentStatus
from tests.channels.digiledge.protocol import (
    OTHER_REF_ID,
    REF_ID,
    TENANT_ID,
    TXN_REF,
    assert_ack,
    borrower,
    delivered_body,
    deliveries,
    fetch_body,
    instalment,
    payment_body,
    status_body,
)
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory

URL = "/digiledge/TxnStatus402"
# digiledge-txnstatusresponse-endpoint.md, "Json Formatted Request Example": its keys.
RESPONSE_EXAMPLE_KEYS = {"refId", "errorCode", "errorDescription", "status", "tenantId"}


@pytest.fixture
def settings_overrides():
    # The request carries no tenantId and these payments have no requests in the log: the setting gives it.
    return {"digiledge_tenant_id": "OU42"}


def ask(client, headers, body):
    return client.post(URL, json=body, headers=headers)


def digiledge_payment(status=PaymentStatus.RECEIVED):
    bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
    payment = PaymentFactory(
        bill=bill, channel=Channel.DIGILEDGE, partner_txn_ref=REF_ID, customer_txn_ref=TXN_REF, status=status
    )
    ReceiptFactory(payment=payment)
    return payment


@pytest.mark.parametrize("status", [PaymentStatus.RECEIVED, PaymentStatus.CONFIRMED, PaymentStatus.UNRESOLVED])
def test_a_payment_that_stands_is_successful(client, digiledge_headers, session, status):
    payment = digiledge_payment(status)

    assert_ack(ask(client, digiledge_headers, status_body()))

    [job] = deliveries(session, "TxnStatusResponse")
    assert job.payload["body"] == {"refId": REF_ID, "status": "Successful", "tenantId": "OU42"}
    assert job.payment_id == payment.id


def test_a_failed_payment_is_a_failure(client, digiledge_headers, session):
    digiledge_payment(PaymentStatus.FAILED)
    ask(client, digiledge_headers, status_body())
    body = delivered_body(session, "TxnStatusResponse")
    assert (body["status"], body["errorCode"]) == ("Failure", "BLR011")


def test_an_unknown_transaction_is_a_failure(client, digiledge_headers, session):
    ask(client, digiledge_headers, status_body(txn_ref="NEVER-PAID"))
    body = delivered_body(session, "TxnStatusResponse")
    assert set(body) <= RESPONSE_EXAMPLE_KEYS
    assert (body["status"], body["errorCode"]) == ("Failure", "BLR010")
    assert "NEVER-PAID" in body["errorDescription"]


def test_a_kaleidofin_payment_is_not_a_digiledge_transaction(client, digiledge_headers, session):
    PaymentFactory(channel=Channel.KALEIDOFIN, customer_txn_ref=TXN_REF)
    ask(client, digiledge_headers, status_body())
    assert delivered_body(session, "TxnStatusResponse")["errorCode"] == "BLR010"


def test_the_response_carries_the_configured_tenant_id(client, digiledge_headers, session):
    digiledge_payment()
    ask(client, digiledge_headers, status_body())
    assert delivered_body(session, "TxnStatusResponse") == {"refId": REF_ID, "status": "Successful", "tenantId": "OU42"}


def test_the_requests_own_tenant_id_comes_first(client, digiledge_headers, session):
    digiledge_payment()
    ask(client, digiledge_headers, {**status_body(), "tenantId": "BOU1"})
    assert delivered_body(session, "TxnStatusResponse")["tenantId"] == "BOU1"


# Without BILLER_DIGILEDGE_TENANT_ID: the tenantId comes from the payment's own requests, or nothing is queued.
NO_TENANT_SETTING = pytest.mark.parametrize("settings_overrides", [{}])


def pay_through_the_protocol(client, headers, *, fetch_tenant=TENANT_ID, payment_tenant=None):
    """The customer's fetch (carrying ``fetch_tenant``) and payment (carrying ``payment_tenant``), as NPCI sends
    them: the payment's request chain, in the inbound log."""
    instalment(borrower(), amount_paise=100_000)
    fetch = fetch_body() if fetch_tenant else {k: v for k, v in fetch_body().items() if k != "tenantId"}
    if fetch_tenant:
        fetch["tenantId"] = fetch_tenant
    assert_ack(client.post("/digiledge/fetch", json=fetch, headers=headers))
    payment = payment_body()
    if payment_tenant:
        payment["tenantId"] = payment_tenant
    assert_ack(client.post("/digiledge/payment", json=payment, headers=headers))


@NO_TENANT_SETTING
def test_without_the_setting_the_tenant_id_of_the_payments_fetch_is_sent(
    client, digiledge_headers, session, settings_overrides
):
    pay_through_the_protocol(client, digiledge_headers)
    assert_ack(ask(client, digiledge_headers, status_body(ref_id=OTHER_REF_ID)))  # another refId: found by txn
    body = delivered_body(session, "TxnStatusResponse")
    assert body == {"refId": OTHER_REF_ID, "status": "Successful", "tenantId": TENANT_ID}
    assert set(body) <= RESPONSE_EXAMPLE_KEYS


@NO_TENANT_SETTING
def test_without_the_setting_the_tenant_id_of_the_payment_request_itself_is_sent(
    client, digiledge_headers, session, settings_overrides
):
    pay_through_the_protocol(client, digiledge_headers, fetch_tenant=None, payment_tenant="PAY1")
    assert_ack(ask(client, digiledge_headers, status_body()))
    assert delivered_body(session, "TxnStatusResponse")["tenantId"] == "PAY1"


@NO_TENANT_SETTING
def test_an_unknown_transaction_takes_the_tenant_id_of_its_ref_ids_requests(
    client, digiledge_headers, session, settings_overrides
):
    pay_through_the_protocol(client, digiledge_headers)
    assert_ack(ask(client, digiledge_headers, status_body(txn_ref="NEVER-PAID")))  # the same refId as the fetch
    body = delivered_body(session, "TxnStatusResponse")
    assert (body["errorCode"], body["tenantId"]) == ("BLR010", TENANT_ID)


@NO_TENANT_SETTING
@pytest.mark.parametrize("paid", [True, False], ids=["a-payment-with-no-tenant-anywhere", "an-unknown-transaction"])
def test_with_no_tenant_id_anywhere_nothing_is_queued(client, digiledge_headers, session, settings_overrides, paid):
    if paid:
        pay_through_the_protocol(client, digiledge_headers, fetch_tenant=None)
    queued = len(deliveries(session))

    response = ask(client, digiledge_headers, status_body(txn_ref=TXN_REF if paid else "NEVER-PAID"))

    assert_ack(response, 400, "INVALID")
    assert "tenantId" in response.json["reason"]
    assert deliveries(session, "TxnStatusResponse") == []
    assert len(deliveries(session)) == queued
    session.expire_all()
    logged = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert (logged.status_code, logged.outcome) == (400, "refused:tenant-id-unknown")


def test_repeated_status_request_queues_one_delivery_and_gets_the_same_ack(client, digiledge_headers, session):
    digiledge_payment()
    first = ask(client, digiledge_headers, status_body())
    second = ask(client, digiledge_headers, status_body())
    assert first.get_data() == second.get_data()
    assert len(deliveries(session)) == 1


def test_a_new_status_request_for_the_same_ref_id_is_answered_again(client, digiledge_headers, session):
    digiledge_payment()
    ask(client, digiledge_headers, status_body(msg_id="MSG0001"))
    ask(client, digiledge_headers, status_body(msg_id="MSG0002"))
    assert len(deliveries(session, "TxnStatusResponse")) == 2


def test_same_ref_and_msg_id_for_another_transaction_is_a_conflict(client, digiledge_headers, session):
    ask(client, digiledge_headers, status_body())
    response = ask(client, digiledge_headers, status_body(txn_ref="OTHER-TXN"))
    assert_ack(response, 409, "CONFLICT")
    assert len(deliveries(session)) == 1


def test_the_tables_dotted_names_are_read_as_nested_fields(client, digiledge_headers, session):
    digiledge_payment()
    body = {
        "refId": OTHER_REF_ID,
        "txn.ts": "2026-11-23T11:00:00+05:30",
        "txn.xchange": "402",
        "txnStatusReq.msgId": "MSG0009",
        "txnStatusReq.txnReferenceId": TXN_REF,
    }
    assert_ack(ask(client, digiledge_headers, body))
    assert delivered_body(session, "TxnStatusResponse") == {
        "refId": OTHER_REF_ID,
        "status": "Successful",
        "tenantId": "OU42",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"refId": REF_ID},
        {"refId": REF_ID, "txnStatusReq": {"msgId": "MSG0001"}},
        {"txnStatusReq": {"txnReferenceId": TXN_REF}},
        {"refId": REF_ID, "txnStatusReq": "CC014110BAAA00036525"},
    ],
    ids=["no-status-req", "no-txn-reference", "no-ref", "status-req-not-object"],
)
def test_malformed_status_request_is_invalid(client, digiledge_headers, session, body):
    assert_ack(ask(client, digiledge_headers, body), 400, "INVALID")
    assert deliveries(session) == []
