"""POST /bills/fetchReceipt, specified by Kaleidofin's page ("Acknowledge Bill Payment") and Setu's rules."""

import json

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import (
    AmountExactness,
    Bill,
    BillStatus,
    ChannelBillReference,
    InboundMessage,
    Job,
    JobKind,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Receipt,
)
from tests.factories import BillFactory, PaymentFactory

URL = "/bills/fetchReceipt"

# Kaleidofin's documented sample request, verbatim.
DOCUMENTED_REQUEST = """{
"systemBillId": 14,
"partnerBillId": "SAMPLE_ID",
"paymentDetails": {
"billAmount": 1000,
"amountPaid": 1000,
"transactionId": "20201223246869"
}
}"""


@pytest.fixture
def sample_bill(session):
    return BillFactory(partner_bill_id="SAMPLE_ID", amount_paise=100_000, exactness=AmountExactness.EXACT)


def pay(client, headers, *, bill="SAMPLE_ID", bill_amount=1000, paid=1000, txn="TXN-1", system_bill_id=14):
    body = {
        "systemBillId": system_bill_id,
        "partnerBillId": bill,
        "paymentDetails": {"billAmount": bill_amount, "amountPaid": paid, "transactionId": txn},
    }
    return client.post(URL, json=body, headers=headers)


def count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_documented_request_records_the_payment_and_answers_with_a_receipt(
    client, kaleidofin_headers, session, sample_bill
):
    response = client.post(URL, data=DOCUMENTED_REQUEST, content_type="application/json", headers=kaleidofin_headers)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"data", "status", "success"}
    assert (body["status"], body["success"]) == (0, True)
    assert set(body["data"]["receipt"]) == {"date", "id"}
    assert body["data"]["receipt"]["date"].endswith("Z")

    payment = session.scalars(sa.select(Payment)).one()
    assert (payment.partner_txn_ref, payment.amount_paise, payment.status) == (
        "20201223246869",
        100_000,
        PaymentStatus.RECEIVED,
    )
    assert payment.receipt.receipt_number == body["data"]["receipt"]["id"]
    session.refresh(sample_bill)
    assert (sample_bill.status, sample_bill.paid_paise, sample_bill.balance_paise) == (BillStatus.PAID, 100_000, 0)


def test_system_bill_id_is_remembered_for_status_checks(client, kaleidofin_headers, session, sample_bill):
    pay(client, kaleidofin_headers, system_bill_id=14)
    reference = session.scalars(sa.select(ChannelBillReference)).one()
    assert (reference.channel, reference.partner_bill_ref, reference.bill_id) == ("kaleidofin", "14", sample_bill.id)
    assert session.scalars(sa.select(Payment)).one().partner_bill_ref == "14"


def test_accepted_payment_gets_a_confirmation_job_in_the_same_transaction(
    client, kaleidofin_headers, session, sample_bill
):
    pay(client, kaleidofin_headers)
    payment = session.scalars(sa.select(Payment)).one()
    job = session.scalars(sa.select(Job)).one()
    assert (job.kind, job.partner, job.payment_id) == (JobKind.CONFIRM_PAYMENT, "kaleidofin", payment.id)
    assert (job.due_at - job.anchor_at).total_seconds() == 5


def test_accepted_payment_is_audited(client, kaleidofin_headers, session, sample_bill):
    pay(client, kaleidofin_headers)
    event = session.scalars(sa.select(PaymentEvent)).one()
    assert (event.kind, event.to_status, event.source) == ("received", "RECEIVED", "kaleidofin")


def test_retry_with_the_same_transaction_gets_the_same_receipt_and_changes_nothing(
    client, kaleidofin_headers, session, sample_bill
):
    first = pay(client, kaleidofin_headers)
    retries = [pay(client, kaleidofin_headers) for _ in range(3)]
    assert all(retry.status_code == 200 for retry in retries)
    assert all(retry.json == first.json for retry in retries)
    assert count(session, Payment) == count(session, Receipt) == count(session, Job) == 1
    session.refresh(sample_bill)
    assert sample_bill.paid_paise == 100_000


@pytest.mark.parametrize(
    ("change", "what"),
    [({"paid": 900, "bill_amount": 1000}, "amount paid"), ({"system_bill_id": 15}, "system bill id")],
)
def test_same_transaction_with_different_details_is_a_conflict_and_changes_nothing(
    client, kaleidofin_headers, session, sample_bill, change, what
):
    first = pay(client, kaleidofin_headers)
    response = pay(client, kaleidofin_headers, **change)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "transaction-conflict"
    assert what in response.json["error"]["detail"]
    assert count(session, Payment) == 1
    assert pay(client, kaleidofin_headers).json == first.json


def test_same_transaction_against_another_bill_is_a_conflict(client, kaleidofin_headers, session, sample_bill):
    BillFactory(partner_bill_id="OTHER", amount_paise=100_000)
    pay(client, kaleidofin_headers)
    response = pay(client, kaleidofin_headers, bill="OTHER")
    assert response.status_code == 409
    assert count(session, Payment) == 1


def test_unknown_bill_is_bill_not_found(client, kaleidofin_headers, session):
    response = pay(client, kaleidofin_headers, bill="NO-SUCH-BILL")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bill-not-found"
    assert count(session, Payment) == 0


def test_cancelled_bill_takes_no_payment(client, kaleidofin_headers, session):
    BillFactory(partner_bill_id="SAMPLE_ID", status=BillStatus.CANCELLED)
    response = pay(client, kaleidofin_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bill-cancelled"
    assert count(session, Payment) == 0


def test_closed_bill_takes_no_payment_as_a_cancelled_one(client, kaleidofin_headers, session):
    BillFactory(partner_bill_id="SAMPLE_ID", status=BillStatus.CLOSED, closed_reason="foreclosed")
    response = pay(client, kaleidofin_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bill-cancelled"
    assert "closed by the biller" in response.json["error"]["detail"]
    assert count(session, Payment) == 0


def test_paid_bill_is_already_fulfilled(client, kaleidofin_headers, session, sample_bill):
    pay(client, kaleidofin_headers, txn="FIRST")
    response = pay(client, kaleidofin_headers, txn="SECOND")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bill-already-fulfilled"
    assert count(session, Payment) == 1


def test_bill_amount_that_does_not_match_the_bill_is_refused(client, kaleidofin_headers, session, sample_bill):
    response = pay(client, kaleidofin_headers, bill_amount=1200, paid=1000)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "incorrect-amount"
    assert count(session, Payment) == 0


# exactness, bill of 1000 rupees: (exactness, amount paid, accepted?, bill status afterwards)
EXACTNESS_CASES = [
    (AmountExactness.EXACT, 1000, True, BillStatus.PAID),
    (AmountExactness.EXACT, 999.99, False, None),
    (AmountExactness.EXACT, 1000.01, False, None),
    (AmountExactness.EXACT_UP, 1000, True, BillStatus.PAID),
    (AmountExactness.EXACT_UP, 1500, True, BillStatus.PAID),
    (AmountExactness.EXACT_UP, 999, False, None),
    (AmountExactness.EXACT_DOWN, 400, True, BillStatus.PARTIALLY_PAID),
    (AmountExactness.EXACT_DOWN, 1000, True, BillStatus.PAID),
    (AmountExactness.EXACT_DOWN, 1000.01, False, None),
    (AmountExactness.ANY, 0.01, True, BillStatus.PARTIALLY_PAID),
    (AmountExactness.ANY, 5000, True, BillStatus.PAID),
    (AmountExactness.RANGE, 200, True, BillStatus.PARTIALLY_PAID),
    (AmountExactness.RANGE, 800, True, BillStatus.PARTIALLY_PAID),
    (AmountExactness.RANGE, 199.99, False, None),
    (AmountExactness.RANGE, 800.01, False, None),
]


@pytest.mark.parametrize(("exactness", "paid", "accepted", "status_after"), EXACTNESS_CASES)
def test_amount_paid_must_suit_the_bills_exactness(
    client, kaleidofin_headers, session, exactness, paid, accepted, status_after
):
    bill = BillFactory(
        partner_bill_id="SAMPLE_ID",
        amount_paise=100_000,
        exactness=exactness,
        min_amount_paise=20_000 if exactness is AmountExactness.RANGE else None,
        max_amount_paise=80_000 if exactness is AmountExactness.RANGE else None,
    )
    response = pay(client, kaleidofin_headers, paid=paid)
    session.refresh(bill)
    if accepted:
        assert response.status_code == 200, response.json
        assert bill.status is status_after
        assert bill.paid_paise == round(paid * 100)
    else:
        assert response.status_code == 400
        assert response.json["error"]["code"] == "incorrect-amount"
        assert bill.paid_paise == 0


def test_part_payment_reduces_the_balance_and_the_next_must_match_it(client, kaleidofin_headers, session):
    bill = BillFactory(partner_bill_id="SAMPLE_ID", amount_paise=100_000, exactness=AmountExactness.EXACT_DOWN)
    assert pay(client, kaleidofin_headers, paid=400, txn="T1").status_code == 200
    session.refresh(bill)
    assert bill.balance_paise == 60_000
    stale = pay(client, kaleidofin_headers, bill_amount=1000, paid=100, txn="T2")
    assert stale.json["error"]["code"] == "incorrect-amount"
    assert pay(client, kaleidofin_headers, bill_amount=600, paid=600, txn="T3").status_code == 200
    session.refresh(bill)
    assert (bill.status, bill.paid_paise) == (BillStatus.PAID, 100_000)


@pytest.mark.parametrize(
    "amount",
    [0, -1000, "1000", "abc", 1000.001, True, None, 12345678901234567890],
)
def test_unacceptable_amounts_are_invalid_params(client, kaleidofin_headers, session, sample_bill, amount):
    response = pay(client, kaleidofin_headers, paid=amount)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid-param"
    assert "amountPaid" in json.dumps(response.json["error"]["errors"])
    assert count(session, Payment) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_and_huge_numbers_are_refused(client, kaleidofin_headers, session, sample_bill, literal):
    body = DOCUMENTED_REQUEST.replace('"amountPaid": 1000', f'"amountPaid": {literal}')
    response = client.post(URL, data=body, content_type="application/json", headers=kaleidofin_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] in {"malformed-request", "invalid-param"}
    assert count(session, Payment) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {
            "partnerBillId": "SAMPLE_ID",
            "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "T"},
        },
        {"systemBillId": 14, "partnerBillId": "SAMPLE_ID"},
        {"systemBillId": 14, "partnerBillId": "SAMPLE_ID", "paymentDetails": {"billAmount": 1000, "amountPaid": 1000}},
        {
            "systemBillId": [14],
            "partnerBillId": "SAMPLE_ID",
            "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "T"},
        },
        [],
    ],
)
def test_missing_or_mistyped_fields_are_invalid_params(client, kaleidofin_headers, session, sample_bill, body):
    response = client.post(URL, json=body, headers=kaleidofin_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid-param"
    assert count(session, Payment) == 0


def test_unauthenticated_payment_writes_nothing_but_the_inbound_log(client, session, sample_bill):
    response = client.post(URL, data=DOCUMENTED_REQUEST, content_type="application/json")
    assert response.status_code == 401
    assert count(session, Payment) == 0
    [message] = session.scalars(sa.select(InboundMessage)).all()
    assert message.outcome == "unauthenticated"


def test_receipt_and_replay_are_in_the_inbound_log(client, kaleidofin_headers, session, sample_bill):
    pay(client, kaleidofin_headers, txn="LOGGED")
    pay(client, kaleidofin_headers, txn="LOGGED")
    outcomes = session.scalars(sa.select(InboundMessage.outcome).order_by(InboundMessage.id)).all()
    assert outcomes == ["receipt_issued", "receipt_replayed"]
    refs = session.scalars(sa.select(InboundMessage.partner_ref)).all()
    assert refs == ["LOGGED", "LOGGED"]


def test_receipt_numbers_are_unique(client, kaleidofin_headers, session):
    for n in range(3):
        BillFactory(partner_bill_id=f"B{n}", amount_paise=100_000)
        pay(client, kaleidofin_headers, bill=f"B{n}", txn=f"T{n}")
    numbers = session.scalars(sa.select(Receipt.receipt_number)).all()
    assert len(set(numbers)) == 3


def test_payment_recorded_offline_does_not_collide_with_the_channels_reference(
    client, kaleidofin_headers, session, sample_bill
):
    other_bill = BillFactory(partner_bill_id="ELSEWHERE", amount_paise=5_000)
    PaymentFactory(bill=other_bill, channel="offline", partner_txn_ref="TXN-1")
    assert pay(client, kaleidofin_headers, txn="TXN-1").status_code == 200
    assert session.scalar(sa.select(Bill.status).where(Bill.partner_bill_id == "SAMPLE_ID")) is BillStatus.PAID


# The overpayment guard (issue 13, class 11): every channel's payment passes through the domain's.


@pytest.mark.parametrize("exactness", [AmountExactness.ANY, AmountExactness.EXACT_UP])
def test_a_payment_of_more_than_ten_times_the_amount_due_is_refused(client, kaleidofin_headers, session, exactness):
    BillFactory(partner_bill_id="SAMPLE_ID", amount_paise=100_300, exactness=exactness)

    response = pay(client, kaleidofin_headers, bill_amount=1003, paid=100_300)

    assert response.status_code == 400
    assert response.json["error"]["code"] == "incorrect-amount"
    assert "more than 10 times the amount due" in response.json["error"]["detail"]
    assert count(session, Payment) == 0


@pytest.mark.parametrize("settings_overrides", [{"max_payment_multiple": 100}])
def test_the_overpayment_multiple_is_a_setting(client, kaleidofin_headers, session, settings_overrides):
    BillFactory(partner_bill_id="SAMPLE_ID", amount_paise=100_300, exactness=AmountExactness.ANY)
    assert pay(client, kaleidofin_headers, bill_amount=1003, paid=100_300).status_code == 200
    assert count(session, Payment) == 1


def test_a_bills_max_amount_lets_a_larger_payment_through(client, kaleidofin_headers, session):
    BillFactory(
        partner_bill_id="SAMPLE_ID", amount_paise=100_300, exactness=AmountExactness.ANY, max_amount_paise=10_030_000
    )
    assert pay(client, kaleidofin_headers, bill_amount=1003, paid=100_300).status_code == 200
