"""POST /digiledge/payment-notification, specified by digiledge-payment-notification.txt."""

import copy

import pytest
import sqlalchemy as sa

from biller_server.domain.payments.notifications import notifications_to_reconcile
from biller_server.persistence.models import (
    BillStatus,
    Channel,
    Payment,
    PaymentEvent,
    PaymentNotification,
    PaymentStatus,
    Receipt,
)
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory

URL = "/digiledge/payment-notification"

# The page's "Json Formatted Request Example", verbatim: as published it is cut off (unclosed brackets).
DOCUMENTED_EXAMPLE = """
     {
    "refId":"String",
    "status":"String",
    "reason":"String", "ack": {
    "api":"String",
    "refId":"String",
    "msgId":"String",
    "rspCd":"String",
    "ts":"String", "errorMessages": [
    {
    "errorCd":"String", "errorDtl":"String"
    }
"""
REF_ID = "HENSVVR4QOS7X1UGPY7JGUV444P10102202"


def notification(status="Successful", ref_id=REF_ID, msg_id="MSG-1", reason="", errors=()):
    return {
        "refId": ref_id,
        "status": status,
        "reason": reason,
        "ack": {
            "api": "PAYMENT_RESPONSE",
            "refId": ref_id,
            "msgId": msg_id,
            "rspCd": "000" if status == "Successful" else "BFR004",
            "ts": "2026-11-23T10:15:00+05:30",
            "errorMessages": [{"errorCd": code, "errorDtl": detail} for code, detail in errors],
        },
    }


@pytest.fixture
def payment(session):
    bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
    payment = PaymentFactory(bill=bill, channel=Channel.DIGILEDGE, partner_txn_ref=REF_ID, amount_paise=100_000)
    ReceiptFactory(payment=payment)
    return payment


def notify(client, headers, body):
    return client.post(URL, json=body, headers=headers)


def assert_ack_shape(body):
    assert set(body) == {"reason", "code", "status"}
    assert 1 <= len(body["reason"]) <= 100
    assert 1 <= len(body["status"]) <= 100
    assert isinstance(body["code"], int)
    assert 100 <= body["code"] <= 999


def test_documented_example_as_published_is_refused_in_the_ack_shape(client, digiledge_headers, session):
    response = client.post(URL, data=DOCUMENTED_EXAMPLE, content_type="application/json", headers=digiledge_headers)
    assert response.status_code == 400
    assert_ack_shape(response.json)
    assert (response.json["code"], response.json["status"]) == (400, "INVALID")
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 0


def test_documented_example_completed_has_a_status_that_is_no_verdict(client, digiledge_headers, session):
    completed = DOCUMENTED_EXAMPLE + "]}}"
    response = client.post(URL, data=completed, content_type="application/json", headers=digiledge_headers)
    assert response.status_code == 400
    assert_ack_shape(response.json)
    assert "neither Successful nor Failure" in response.json["reason"]


def test_success_confirms_the_payment(client, digiledge_headers, session, payment):
    response = notify(client, digiledge_headers, notification())
    assert response.status_code == 200
    assert response.json == {"reason": "Payment confirmed", "code": 200, "status": "ACCEPTED"}
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED
    stored = session.scalars(sa.select(PaymentNotification)).one()
    assert (stored.ref_id, stored.payment_id, stored.outcome) == (REF_ID, payment.id, "applied")
    assert stored.body == notification()


def test_failure_reverses_the_payment_and_keeps_receipt_and_reason_codes(client, digiledge_headers, session, payment):
    body = notification(status="Failure", reason="Payment failed at NPCI", errors=[("BFR004", "Payment declined")])
    response = notify(client, digiledge_headers, body)
    assert response.json["code"] == 200
    session.refresh(payment)
    assert payment.status is PaymentStatus.FAILED
    assert payment.reason_codes == [{"errorCd": "BFR004", "errorDtl": "Payment declined"}]
    assert payment.applied_to_bill is False
    session.refresh(payment.bill)
    assert (payment.bill.paid_paise, payment.bill.status) == (0, BillStatus.OPEN)
    assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 1


def test_exact_repeat_gets_the_same_ack_and_changes_nothing(client, digiledge_headers, session, payment):
    first = notify(client, digiledge_headers, notification())
    events = session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent))
    repeats = [notify(client, digiledge_headers, notification()) for _ in range(3)]
    assert all(repeat.json == first.json for repeat in repeats)
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent)) == events


def test_a_repeat_is_told_what_the_first_delivery_was_told_as_stored(client, digiledge_headers, session, payment):
    # Stored notifications keep their acknowledgement: a repeat is answered from the row, not from today's table.
    notify(client, digiledge_headers, notification())
    stored = session.scalars(sa.select(PaymentNotification)).one()
    stored.ack_code, stored.ack_status, stored.ack_reason = 200, "ACCEPTED", "Worded by an earlier release"
    session.flush()

    repeat = notify(client, digiledge_headers, notification())

    assert repeat.json == {"reason": "Worded by an earlier release", "code": 200, "status": "ACCEPTED"}


def test_another_delivery_of_the_same_verdict_is_a_duplicate(client, digiledge_headers, session, payment):
    notify(client, digiledge_headers, notification(msg_id="MSG-1"))
    response = notify(client, digiledge_headers, notification(msg_id="MSG-2"))
    assert (response.json["code"], response.json["status"]) == (208, "DUPLICATE")
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_unknown_ref_id_is_stored_acknowledged_and_listed_for_reconciliation(client, digiledge_headers, session):
    response = notify(client, digiledge_headers, notification(ref_id="NEVER-SEEN"))
    assert response.status_code == 200
    assert (response.json["code"], response.json["status"]) == (202, "RECORDED")
    [pending] = notifications_to_reconcile(session=session, channel=Channel.DIGILEDGE)
    assert (pending.ref_id, pending.outcome, pending.payment_id) == ("NEVER-SEEN", "unknown_payment", None)


def test_contradicting_notification_is_recorded_and_flagged_not_applied(client, digiledge_headers, session, payment):
    notify(client, digiledge_headers, notification(status="Successful", msg_id="MSG-1"))
    response = notify(client, digiledge_headers, notification(status="Failure", msg_id="MSG-2"))
    assert (response.json["code"], response.json["status"]) == (202, "RECORDED")
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED
    assert payment.flagged is True
    assert payment.applied_to_bill is True
    [pending] = notifications_to_reconcile(session=session)
    assert pending.outcome == "contradiction"


def test_notification_for_another_channels_reference_is_not_applied_to_it(client, digiledge_headers, session):
    PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref=REF_ID)
    response = notify(client, digiledge_headers, notification())
    assert response.json["status"] == "RECORDED"
    assert session.scalars(sa.select(Payment.status)).one() is PaymentStatus.RECEIVED


def test_missing_credentials_get_401_in_the_ack_shape_and_nothing_is_stored(client, session, payment):
    response = client.post(URL, json=notification())
    assert response.status_code == 401
    assert_ack_shape(response.json)
    assert response.json["status"] == "UNAUTHORISED"
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 0


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body: body.pop("refId"),
        lambda body: body.pop("status"),
        lambda body: body.pop("ack"),
        lambda body: body["ack"].pop("msgId"),
        lambda body: body.update(refId=""),
        lambda body: body.update(refId="R" * 101),
        lambda body: body.update(status=7),
        lambda body: body["ack"].update(errorMessages="oops"),
    ],
)
def test_malformed_notifications_get_an_invalid_ack(client, digiledge_headers, session, payment, mutate):
    body = copy.deepcopy(notification())
    mutate(body)
    response = notify(client, digiledge_headers, body)
    assert response.status_code == 400
    assert_ack_shape(response.json)
    assert response.json["status"] == "INVALID"
    session.refresh(payment)
    assert payment.status is PaymentStatus.RECEIVED


def test_published_variants_refid_and_error_object_are_accepted(client, digiledge_headers, session, payment):
    body = notification(status="Failure")
    body["ack"]["refid"] = body["ack"].pop("refId")
    body["ack"]["errorMessages"] = {"errorCd": "BFR004", "errorDtl": "Declined"}
    assert notify(client, digiledge_headers, body).json["code"] == 200
    session.refresh(payment)
    assert payment.reason_codes == [{"errorCd": "BFR004", "errorDtl": "Declined"}]


@pytest.mark.parametrize("status", ["Failure", "Successful"])
def test_an_ack_about_another_transaction_is_held_for_reconciliation_not_applied(
    client, digiledge_headers, session, payment, status
):
    """The issue's case: root refId PR1's payment, ack.refId SOMEOTHERREF: whose verdict is it? Not applied."""
    body = notification(status=status)
    body["ack"]["refId"] = "SOMEOTHERREF"

    response = notify(client, digiledge_headers, body)

    assert response.status_code == 200
    assert (response.json["code"], response.json["status"]) == (202, "RECORDED")
    assert "another transaction" in response.json["reason"]
    session.refresh(payment)
    assert (payment.status, payment.applied_to_bill) == (PaymentStatus.RECEIVED, True)
    session.refresh(payment.bill)
    assert payment.bill.status is BillStatus.PAID
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent)) == 0
    [pending] = notifications_to_reconcile(session=session, channel=Channel.DIGILEDGE)
    assert (pending.ref_id, pending.outcome, pending.payment_id) == (REF_ID, "ref_mismatch", payment.id)
    assert pending.body["ack"]["refId"] == "SOMEOTHERREF"  # kept whole, for the person who reconciles it

    repeat = notify(client, digiledge_headers, body)
    assert repeat.json == response.json
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentNotification)) == 1


def test_an_ack_about_another_transaction_spelled_refid_is_held_too(client, digiledge_headers, session, payment):
    body = notification(status="Failure")
    body["ack"].pop("refId")
    body["ack"]["refid"] = "SOMEOTHERREF"
    assert notify(client, digiledge_headers, body).json["status"] == "RECORDED"
    session.refresh(payment)
    assert payment.status is PaymentStatus.RECEIVED


@pytest.mark.parametrize("ack_ref", [None, "", f" {REF_ID} "], ids=["null", "empty", "padded"])
def test_an_ack_without_another_ref_id_is_applied(client, digiledge_headers, session, payment, ack_ref):
    body = notification(status="Failure")
    body["ack"]["refId"] = ack_ref
    assert notify(client, digiledge_headers, body).json["code"] == 200
    session.refresh(payment)
    assert payment.status is PaymentStatus.FAILED
