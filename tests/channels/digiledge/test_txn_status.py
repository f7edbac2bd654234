"""POST /digiledge/TxnStatus402: acknowledged at once, the payment's status queued for Digiledge's
POST /TxnStatusResponse. digiledge-status-402-api.md has no example; the request follows its table."""

import pytest

from biller_server.persistence.models import BillStatus, Channel, PaymentStatus
from tests.channels.digiledge.protocol import (
    OTHER_REF_ID,
    REF_ID,
    TXN_REF,
    assert_ack,
    delivered_body,
    deliveries,
    status_body,
)
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory

URL = "/digiledge/TxnStatus402"
# digiledge-txnstatusresponse-endpoint.md, "Json Formatted Request Example": its keys.
RESPONSE_EXAMPLE_KEYS = {"refId", "errorCode", "errorDescription", "status", "tenantId"}


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
    assert job.payload["body"] == {"refId": REF_ID, "status": "Successful"}
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


@pytest.mark.parametrize("settings_overrides", [{"digiledge_tenant_id": "OU42"}])
def test_the_response_carries_the_configured_tenant_id(client, digiledge_headers, session, settings_overrides):
    digiledge_payment()
    ask(client, digiledge_headers, status_body())
    assert delivered_body(session, "TxnStatusResponse") == {"refId": REF_ID, "status": "Successful", "tenantId": "OU42"}


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
    assert delivered_body(session, "TxnStatusResponse") == {"refId": OTHER_REF_ID, "status": "Successful"}


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
