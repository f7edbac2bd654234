"""POST /digiledge/payment: the payment is recorded (or refused) and acknowledged, its result queued for Digiledge's
POST /BillPaymentResponse; NPCI's verdict comes later in the Payment Notification or the Payment Status API."""

import json

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import (
    AmountExactness,
    BillStatus,
    Channel,
    Job,
    JobKind,
    Payment,
    PaymentStatus,
    Receipt,
)
from tests.channels.digiledge.protocol import (
    LAN,
    OTHER_REF_ID,
    REF_ID,
    TENANT_ID,
    TXN_REF,
    assert_ack,
    biller_response_from,
    borrower,
    delivered_body,
    deliveries,
    fetch_body,
    instalment,
    params,
    payment_body,
)
from tests.factories import CustomerFactory

URL = "/digiledge/payment"

# digiledge-bill-pay-api.md, "Json Formatted Request Example", verbatim: cut off inside billerResponse.tags, with a
# trailing comma in txn, an unclosed object in customerParams and the key "billerId:".
DOCUMENTED_EXAMPLE = """{
"refId": "String", "txn": {
"txnReferenceId": "String", "ts": "String",
"type": "String",
},
"billerId:": "String", "customerParams": [
{
],
"additionalInfo": [
{
"name": "String",
"value": "String"
}
],
"paymentMethod": { "quickPay": "String", "splitPay": "String", "offusPay": "String", "paymentMode": "String"
},
"amount": {
"amt": {
"amount": "String", "custConvFee": "String", "currency": "String"
},
"splitPayAmount": "String", "tags": [
{
"name": "String",
"value": "String"
}
]
},
"billerResponse": { "customerName": "String", "amount": "String",
"dueDate": "String", "custConvFee": "String", "billDate": "String", "billNumber": "String", "billPeriod": "String", "tags": [
{
"name": "String",
"""  # noqa: E501 (verbatim)


def completed_example(**values: str) -> str:
    """The published example made into JSON (its slips fixed, its brackets closed, the "billerId:" key kept)."""
    text = DOCUMENTED_EXAMPLE.replace('"type": "String",\n}', '"type": "String"\n}')
    text = text.replace('"customerParams": [\n{\n]', '"customerParams": [\n{"name": "String", "value": "String"}\n]')
    text += '"value": "String"\n}\n]\n}\n}'
    for old, new in values.items():
        text = text.replace(old, new)
    return text


def pay(client, headers, body):
    return client.post(URL, json=body, headers=headers)


def payments(session):
    return session.scalars(sa.select(Payment).execution_options(populate_existing=True)).all()


def test_documented_example_as_published_is_invalid_and_writes_nothing(client, digiledge_headers, session):
    response = client.post(URL, data=DOCUMENTED_EXAMPLE, content_type="application/json", headers=digiledge_headers)
    assert_ack(response, 400, "INVALID")
    assert payments(session) == [] and deliveries(session) == []


def test_documented_example_completed_keeps_its_placeholder_amount_which_is_invalid(client, digiledge_headers):
    response = client.post(URL, data=completed_example(), content_type="application/json", headers=digiledge_headers)
    assert_ack(response, 400, "INVALID")
    assert "amount" in response.json["reason"]


def test_documented_example_completed_with_real_values_records_the_payment(client, digiledge_headers, session):
    bill = instalment(borrower(), partner_bill_id="BILL-NOV", amount_paise=100_000)
    text = completed_example()
    text = text.replace('"refId": "String"', f'"refId": "{REF_ID}"')
    text = text.replace('"txnReferenceId": "String"', f'"txnReferenceId": "{TXN_REF}"')
    text = text.replace(
        '{"name": "String", "value": "String"}', json.dumps({"name": "Loan Account Number", "value": LAN})
    )
    text = text.replace('"amount": "String", "custConvFee"', '"amount": "1000.00", "custConvFee"')
    text = text.replace('"customerName": "String", "amount": "String"', '"customerName": "String", "amount": "1000.00"')
    text = text.replace('"billNumber": "String"', '"billNumber": "BILL-NOV"')
    assert '"billerId:": "String"' in text

    response = client.post(URL, data=text, content_type="application/json", headers=digiledge_headers)

    assert_ack(response)
    [payment] = payments(session)
    assert (payment.bill_id, payment.amount_paise, payment.partner_txn_ref) == (bill.id, 100_000, REF_ID)


def test_payment_after_a_fetch_is_recorded_receipted_and_queued_for_confirmation(client, digiledge_headers, session):
    bill = instalment(borrower(), partner_bill_id="BILL-NOV", amount_paise=100_000)
    client.post("/digiledge/fetch", json=fetch_body(), headers=digiledge_headers)
    offered = delivered_body(session, "BillFetchResponse")

    response = pay(client, digiledge_headers, payment_body(biller_response=biller_response_from(offered)))

    assert_ack(response)
    assert response.json["reason"] == "Bill payment accepted; the result follows at /BillPaymentResponse"
    [payment] = payments(session)
    assert (payment.channel, payment.partner_txn_ref, payment.customer_txn_ref) == (Channel.DIGILEDGE, REF_ID, TXN_REF)
    assert (payment.bill_id, payment.amount_paise, payment.status) == (bill.id, 100_000, PaymentStatus.RECEIVED)
    assert payment.declared_bill_amount_paise == 100_000
    session.refresh(bill)
    assert bill.status is BillStatus.PAID
    confirmation = session.scalars(sa.select(Job).where(Job.kind == JobKind.CONFIRM_PAYMENT)).one()
    assert (confirmation.partner, confirmation.payment_id) == ("digiledge", payment.id)
    [job] = deliveries(session, "BillPaymentResponse")
    assert job.payment_id == payment.id
    assert job.payload["body"] == {
        "refId": REF_ID,
        "status": "Successful",
        "approvalRefNum": payment.receipt.receipt_number,
        # The payment request carried no tenantId: the fetch's, for the same refId, is used.
        "tenantId": TENANT_ID,
    }


def test_payment_without_a_fetch_pays_the_earliest_due_bill(client, digiledge_headers, session):
    customer = borrower()
    instalment(customer, partner_bill_id="BILL-DEC", due_in_days=44)
    november = instalment(customer, partner_bill_id="BILL-NOV", due_in_days=14)

    assert_ack(pay(client, digiledge_headers, payment_body()))

    [payment] = payments(session)
    assert payment.bill_id == november.id
    assert delivered_body(session, "BillPaymentResponse")["status"] == "Successful"


def test_amount_is_read_as_rupees(client, digiledge_headers, session):
    instalment(borrower(), amount_paise=100_050, exactness=AmountExactness.ANY)
    pay(client, digiledge_headers, payment_body(amount="500.25"))
    [payment] = payments(session)
    assert payment.amount_paise == 50_025


def refused(session):
    assert payments(session) == []
    assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 0
    body = delivered_body(session, "BillPaymentResponse")
    assert set(body) - {"tenantId"} == {"refId", "status", "errorCode", "errorDescription"}
    assert body["status"] == "Failure"
    assert len(body["errorCode"]) == 6 and 1 <= len(body["errorDescription"]) <= 100
    return body["errorCode"]


@pytest.mark.parametrize(
    ("bill_values", "amount", "code"),
    [
        ({}, "999.00", "BLR007"),
        ({}, "1000.01", "BLR007"),
        ({"exactness": AmountExactness.EXACT_DOWN}, "1000.50", "BLR007"),
        ({"paid_paise": 100_000, "status": BillStatus.PAID}, "1000.00", "BLR003"),
        ({"status": BillStatus.CANCELLED}, "1000.00", "BLR003"),
        ({"status": BillStatus.CLOSED}, "1000.00", "BLR003"),
    ],
    ids=["short", "over", "over-exact-down", "nothing-due", "cancelled", "closed"],
)
def test_refused_payment_is_acknowledged_and_answered_with_a_failure(
    client, digiledge_headers, session, bill_values, amount, code
):
    instalment(borrower(), amount_paise=100_000, **bill_values)

    response = pay(client, digiledge_headers, payment_body(amount=amount))

    assert_ack(response)
    assert refused(session) == code


@pytest.mark.parametrize(
    ("bill_values", "code"),
    [
        ({"paid_paise": 100_000, "status": BillStatus.PAID}, "BLR005"),
        ({"status": BillStatus.CANCELLED}, "BLR006"),
        ({"status": BillStatus.CLOSED}, "BLR006"),
    ],
    ids=["paid", "cancelled", "closed"],
)
def test_payment_of_a_named_bill_that_takes_no_payment_is_refused(
    client, digiledge_headers, session, bill_values, code
):
    instalment(borrower(), partner_bill_id="BILL-NOV", **bill_values)
    pay(client, digiledge_headers, payment_body(biller_response={"billNumber": "BILL-NOV", "amount": "1000.00"}))
    assert refused(session) == code


def test_payment_of_an_unknown_bill_is_refused(client, digiledge_headers, session):
    instalment(borrower())
    pay(client, digiledge_headers, payment_body(biller_response={"billNumber": "BILL-NOBODY"}))
    assert refused(session) == "BLR004"


def test_payment_of_another_customers_bill_is_refused(client, digiledge_headers, session):
    instalment(borrower())
    instalment(CustomerFactory(), partner_bill_id="BILL-SOMEONE-ELSE", loan_account_number="LAN-OTHER")
    pay(client, digiledge_headers, payment_body(biller_response={"billNumber": "BILL-SOMEONE-ELSE"}))
    assert refused(session) == "BLR004"


def test_payment_naming_another_bill_than_the_fetch_offered_is_refused(client, digiledge_headers, session):
    customer = borrower()
    instalment(customer, partner_bill_id="BILL-NOV", due_in_days=14)
    instalment(customer, partner_bill_id="BILL-DEC", due_in_days=44)
    client.post("/digiledge/fetch", json=fetch_body(), headers=digiledge_headers)
    pay(client, digiledge_headers, payment_body(biller_response={"billNumber": "BILL-DEC"}))
    assert refused(session) == "BLR004"


def test_payment_for_an_unknown_customer_is_refused(client, digiledge_headers, session):
    pay(client, digiledge_headers, payment_body(customer_params=params(("Loan Account Number", "NOBODY"))))
    assert refused(session) == "BLR001"


def test_payment_after_the_bill_changed_since_the_fetch_is_refused(client, digiledge_headers, session):
    # billerResponse.amount is what the customer was shown: it must still be the amount due (as for Kaleidofin).
    instalment(borrower(), partner_bill_id="BILL-NOV", amount_paise=100_000, paid_paise=40_000)
    pay(
        client,
        digiledge_headers,
        payment_body(amount="600.00", biller_response={"billNumber": "BILL-NOV", "amount": "1000.00"}),
    )
    assert refused(session) == "BLR007"


def test_reversal_is_refused(client, digiledge_headers, session):
    instalment(borrower())
    pay(client, digiledge_headers, payment_body(txn_type="REVERSAL TYPE REQUEST"))
    assert refused(session) == "BLR009"


def test_repeated_payment_records_once_queues_once_and_gets_the_same_ack(client, digiledge_headers, session):
    bill = instalment(borrower(), amount_paise=100_000, exactness=AmountExactness.ANY)
    first = pay(client, digiledge_headers, payment_body(amount="400.00"))
    repeats = [pay(client, digiledge_headers, payment_body(amount="400.00")) for _ in range(3)]
    assert all(repeat.get_data() == first.get_data() for repeat in repeats)
    assert len(payments(session)) == 1
    assert len(deliveries(session)) == 1
    session.refresh(bill)
    assert bill.paid_paise == 40_000


def test_repeated_refused_payment_queues_one_failure(client, digiledge_headers, session):
    instalment(borrower())
    first = pay(client, digiledge_headers, payment_body(amount="1.00"))
    second = pay(client, digiledge_headers, payment_body(amount="1.00"))
    assert first.get_data() == second.get_data()
    assert len(deliveries(session)) == 1


def test_same_ref_id_with_another_amount_is_a_conflict_and_changes_nothing(client, digiledge_headers, session):
    bill = instalment(borrower(), exactness=AmountExactness.ANY)
    pay(client, digiledge_headers, payment_body(amount="400.00"))

    response = pay(client, digiledge_headers, payment_body(amount="500.00"))

    assert_ack(response, 409, "CONFLICT")
    assert len(payments(session)) == 1 and len(deliveries(session)) == 1
    session.refresh(bill)
    assert bill.paid_paise == 40_000


def test_a_refused_ref_id_cannot_be_reused_for_a_payment_that_would_pass(client, digiledge_headers, session):
    instalment(borrower())
    pay(client, digiledge_headers, payment_body(amount="1.00"))
    response = pay(client, digiledge_headers, payment_body(amount="1000.00"))
    assert_ack(response, 409, "CONFLICT")
    assert payments(session) == []


def test_same_txn_reference_under_another_ref_id_is_refused_as_a_duplicate(client, digiledge_headers, session):
    bill = instalment(borrower(), exactness=AmountExactness.ANY)
    pay(client, digiledge_headers, payment_body(amount="400.00"))

    response = pay(client, digiledge_headers, payment_body(ref_id=OTHER_REF_ID, amount="400.00"))

    assert_ack(response)
    assert len(payments(session)) == 1
    [_, duplicate] = deliveries(session, "BillPaymentResponse")
    assert (duplicate.payload["body"]["refId"], duplicate.payload["body"]["errorCode"]) == (OTHER_REF_ID, "BLR008")
    assert REF_ID in duplicate.payload["body"]["errorDescription"]
    session.refresh(bill)
    assert bill.paid_paise == 40_000


@pytest.mark.parametrize(
    "amount", ["1000.505", "abc", "-5", "0", "1,000", "", "1e3"], ids=lambda amount: f"amount={amount!r}"
)
def test_amount_that_is_no_rupee_amount_is_invalid_and_writes_nothing(client, digiledge_headers, session, amount):
    instalment(borrower())
    response = pay(client, digiledge_headers, payment_body(amount=amount))
    assert_ack(response, 400, "INVALID")
    assert payments(session) == [] and deliveries(session) == []


@pytest.mark.parametrize(
    "path",
    [("txn",), ("txn", "txnReferenceId"), ("amount",), ("amount", "amt"), ("amount", "amt", "amount"), ("billerId",)],
    ids=lambda path: ".".join(path),
)
def test_payment_missing_a_required_field_is_invalid(client, digiledge_headers, session, path):
    body = payment_body()
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    assert_ack(pay(client, digiledge_headers, body), 400, "INVALID")
    assert payments(session) == []


# Amount units and the overpayment guard (issue 13, class 11).


@pytest.mark.parametrize("exactness", [AmountExactness.ANY, AmountExactness.EXACT_UP])
def test_paise_sent_to_a_biller_reading_rupees_is_refused_not_booked_a_hundredfold(
    client, digiledge_headers, session, exactness
):
    """The issue's case: a bill of ₹1,003 and "amount":"100300" (NPCI's paise), read as rupees: ₹100,300."""
    instalment(borrower(), amount_paise=100_300, exactness=exactness)

    assert_ack(pay(client, digiledge_headers, payment_body(amount="100300")))

    assert refused(session) == "BLR007"
    assert "more than 10 times" in delivered_body(session, "BillPaymentResponse")["errorDescription"]


@pytest.mark.parametrize("settings_overrides", [{"max_payment_multiple": 200}])
def test_the_multiple_is_a_setting(client, digiledge_headers, session, settings_overrides):
    instalment(borrower(), amount_paise=100_300, exactness=AmountExactness.ANY)
    assert_ack(pay(client, digiledge_headers, payment_body(amount="100300")))
    [payment] = payments(session)
    assert payment.amount_paise == 10_030_000


PAISE = pytest.mark.parametrize("settings_overrides", [{"digiledge_amount_unit": "paise"}])


@PAISE
def test_with_amounts_in_paise_the_payment_is_read_as_paise(client, digiledge_headers, session, settings_overrides):
    instalment(borrower(), amount_paise=100_300, exactness=AmountExactness.ANY)
    assert_ack(pay(client, digiledge_headers, payment_body(amount="100300")))
    [payment] = payments(session)
    assert payment.amount_paise == 100_300
    assert delivered_body(session, "BillPaymentResponse")["status"] == "Successful"


@PAISE
def test_with_amounts_in_paise_our_fetch_answer_is_in_paise_and_its_payment_round_trips(
    client, digiledge_headers, session, settings_overrides
):
    instalment(borrower(), amount_paise=100_350, exactness=AmountExactness.EXACT)
    client.post("/digiledge/fetch", json=fetch_body(), headers=digiledge_headers)
    fetched = delivered_body(session, "BillFetchResponse")
    assert fetched["amount"] == "100350"
    assert fetched["billerResponseTags"] == [{"name": "BASE_BILL_AMOUNT", "value": "100350"}]
    assert {"name": "Total Due", "value": "100350"} in fetched["additionalInfo"]

    body = payment_body(amount=fetched["amount"], biller_response=biller_response_from(fetched))
    assert_ack(pay(client, digiledge_headers, body))
    [payment] = payments(session)
    assert payment.amount_paise == 100_350


@PAISE
@pytest.mark.parametrize("amount", ["1003.00", "1003.5", "-100", "1e5", "\u0967\u0966\u0966"])
def test_with_amounts_in_paise_anything_but_whole_paise_is_invalid(
    client, digiledge_headers, session, settings_overrides, amount
):
    instalment(borrower(), amount_paise=100_300, exactness=AmountExactness.ANY)
    response = pay(client, digiledge_headers, payment_body(amount=amount))
    assert_ack(response, 400, "INVALID")
    assert payments(session) == []
    assert deliveries(session, "BillPaymentResponse") == []
