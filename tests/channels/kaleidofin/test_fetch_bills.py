"""POST /bills/fetchBills, specified by Kaleidofin's collection API page ("Generate Bill")."""

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from biller_server.persistence.models import AmountExactness, BillStatus, IdentifierKind, InboundMessage
from tests.factories import BillFactory, CustomerFactory

URL = "/bills/fetchBills"

# Kaleidofin's documented sample request, verbatim.
DOCUMENTED_REQUEST = """[
{
"identifierKey":"name",
"identifierValue":"vishakha"
},
{
"identifierKey":"customerId",
"identifierValue":"AY1234"
}
]"""

# Kaleidofin's documented sample response, verbatim.
DOCUMENTED_RESPONSE = """{
"data": {
"billFetchStatus": "AVAILABLE",
"customerBills": {
"bills": [
{
"billName": "JuneInstallment",
"billAmount": 1000,
"partnerBillId": "TESTING-002",
"dueDate": "2020-09-01",
"generatedDate": "2020-08-01",
"amountExactness": "EXACT"
},
{
"billName": "JulyInstallment",
"billAmount": 1200,
"partnerBillId": "TEST-124",
"dueDate": "2020-08-15",
"generatedDate": "2020-08-01",
"amountExactness": "EXACT"
}
]
},
"customer": {
"info": {
"name": "Vishakha",
"phoneNumber": "7706057010",
"consumerId": "AY1234"
},
"name": "Vishakha"
}
},
"status": 0,
"success": true
}"""


@pytest.fixture
def vishakha(session):
    customer = CustomerFactory(lender_customer_id="AY1234", name="Vishakha", mobile="7706057010")
    for name, amount, partner_bill_id, due in [
        ("JuneInstallment", 100_000, "TESTING-002", dt.date(2020, 9, 1)),
        ("JulyInstallment", 120_000, "TEST-124", dt.date(2020, 8, 15)),
    ]:
        BillFactory(
            customer=customer,
            name=name,
            amount_paise=amount,
            partner_bill_id=partner_bill_id,
            due_date=due,
            generated_date=dt.date(2020, 8, 1),
            exactness=AmountExactness.EXACT,
        )
    return customer


def fetch(client, headers, identifiers):
    return client.post(URL, json=identifiers, headers=headers)


def ids(customer_id="AY1234", **more):
    items = [{"identifierKey": "customerId", "identifierValue": customer_id}]
    items += [{"identifierKey": key, "identifierValue": value} for key, value in more.items()]
    return items


def test_documented_request_gets_the_documented_response(client, kaleidofin_headers, vishakha):
    response = client.post(URL, data=DOCUMENTED_REQUEST, content_type="application/json", headers=kaleidofin_headers)
    assert response.status_code == 200
    assert response.json == json.loads(DOCUMENTED_RESPONSE)


def test_name_check_ignores_case_and_spacing(client, kaleidofin_headers, vishakha):
    response = fetch(client, kaleidofin_headers, ids(name="  VISH akha "))
    assert response.json["data"]["billFetchStatus"] == "AVAILABLE"


def test_right_id_with_wrong_name_is_customer_not_found_and_shows_no_bills(client, kaleidofin_headers, vishakha):
    response = fetch(client, kaleidofin_headers, ids(name="Somebody Else"))
    assert response.status_code == 400
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "customer-not-found"
    assert "TESTING-002" not in response.get_data(as_text=True)


def test_unknown_customer_is_customer_not_found(client, kaleidofin_headers, vishakha):
    response = fetch(client, kaleidofin_headers, ids("NOBODY"))
    assert response.status_code == 400
    assert response.json["status"] == 400
    assert response.json["error"]["code"] == "customer-not-found"


def test_identifier_keys_match_case_insensitively_and_values_are_trimmed(client, kaleidofin_headers, vishakha):
    items = [{"identifierKey": "CUSTOMERID", "identifierValue": "  AY1234 "}]
    assert fetch(client, kaleidofin_headers, items).json["data"]["customer"]["info"]["consumerId"] == "AY1234"


def test_consumer_id_and_mobile_identify_the_customer(client, kaleidofin_headers, vishakha):
    for key, value in [("consumerId", "AY1234"), ("mobile", "7706057010")]:
        response = fetch(client, kaleidofin_headers, [{"identifierKey": key, "identifierValue": value}])
        assert response.json["data"]["customer"]["name"] == "Vishakha", key


def test_customer_who_owes_nothing_gets_no_outstanding(client, kaleidofin_headers, session):
    customer = CustomerFactory(lender_customer_id="PAID01")
    BillFactory(customer=customer, paid_paise=100_000, status=BillStatus.PAID)
    BillFactory(customer=customer, status=BillStatus.CANCELLED)
    BillFactory(customer=customer, paid_paise=20_000, status=BillStatus.CLOSED)  # settled outside BBPS
    response = fetch(client, kaleidofin_headers, ids("PAID01"))
    assert response.status_code == 200
    assert response.json["data"]["billFetchStatus"] == "NO_OUTSTANDING"
    assert response.json["data"]["customerBills"]["bills"] == []
    assert response.json["data"]["customer"]["info"]["consumerId"] == "PAID01"


def test_partly_paid_bill_shows_its_balance_exactly(client, kaleidofin_headers, session):
    customer = CustomerFactory(lender_customer_id="PART01")
    BillFactory(
        customer=customer,
        amount_paise=100_050,
        paid_paise=30_000,
        status=BillStatus.PARTIALLY_PAID,
        exactness=AmountExactness.EXACT_DOWN,
    )
    [bill] = fetch(client, kaleidofin_headers, ids("PART01")).json["data"]["customerBills"]["bills"]
    assert bill["billAmount"] == 700.5
    assert "minAmount" not in bill


def test_overdue_instalment_stays_payable(client, kaleidofin_headers, session):
    customer = CustomerFactory(lender_customer_id="LATE01")
    BillFactory(customer=customer, due_date=dt.date(2020, 1, 1), generated_date=dt.date(2019, 12, 1))
    bills = fetch(client, kaleidofin_headers, ids("LATE01")).json["data"]["customerBills"]["bills"]
    assert [bill["dueDate"] for bill in bills] == ["2020-01-01"]


def test_range_bill_carries_its_bounds(client, kaleidofin_headers, session):
    customer = CustomerFactory(lender_customer_id="RANGE1")
    BillFactory(
        customer=customer,
        amount_paise=500_000,
        exactness=AmountExactness.RANGE,
        min_amount_paise=100_000,
        max_amount_paise=500_000,
    )
    [bill] = fetch(client, kaleidofin_headers, ids("RANGE1")).json["data"]["customerBills"]["bills"]
    assert (bill["amountExactness"], bill["minAmount"], bill["maxAmount"]) == ("RANGE", 1000, 5000)


def test_loan_account_number_shows_only_that_loans_bills(client, kaleidofin_headers, session):
    customer = CustomerFactory(
        lender_customer_id="TWO01",
        identifiers=[(IdentifierKind.LOAN_ACCOUNT_NUMBER, "LAN-A"), (IdentifierKind.LOAN_ACCOUNT_NUMBER, "LAN-B")],
    )
    BillFactory(customer=customer, loan_account_number="LAN-A", partner_bill_id="A-1")
    BillFactory(customer=customer, loan_account_number="LAN-B", partner_bill_id="B-1")
    items = [{"identifierKey": "loanAccountNumber", "identifierValue": "LAN-B"}]
    bills = fetch(client, kaleidofin_headers, items).json["data"]["customerBills"]["bills"]
    assert [bill["partnerBillId"] for bill in bills] == ["B-1"]


def test_mobile_shared_by_two_customers_needs_another_identifier(client, kaleidofin_headers, session):
    CustomerFactory(lender_customer_id="FAM01", mobile="9000000001")
    CustomerFactory(lender_customer_id="FAM02", mobile="9000000001")
    alone = fetch(client, kaleidofin_headers, [{"identifierKey": "mobile", "identifierValue": "9000000001"}])
    assert alone.status_code == 400
    assert alone.json["error"]["code"] == "insufficient-customer-identifiers"
    both = fetch(client, kaleidofin_headers, ids("FAM02", mobile="9000000001"))
    assert both.json["data"]["customer"]["info"]["consumerId"] == "FAM02"


def test_identifiers_pointing_at_different_customers_find_nobody(client, kaleidofin_headers, session):
    CustomerFactory(lender_customer_id="ONE01", mobile="9111111111")
    CustomerFactory(lender_customer_id="TWO02", mobile="9222222222")
    response = fetch(client, kaleidofin_headers, ids("ONE01", mobile="9222222222"))
    assert response.json["error"]["code"] == "customer-not-found"


def test_a_name_alone_is_not_enough(client, kaleidofin_headers, vishakha):
    response = fetch(client, kaleidofin_headers, [{"identifierKey": "name", "identifierValue": "Vishakha"}])
    assert response.status_code == 400
    assert response.json["error"]["code"] == "insufficient-customer-identifiers"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "insufficient-customer-identifiers"),
        ([{"identifierKey": "favouriteColour", "identifierValue": "blue"}], "invalid-param"),
        ([{"identifierKey": "customerId"}], "invalid-param"),
        ([{"identifierKey": "customerId", "identifierValue": 1234}], "invalid-param"),
        ([{"identifierKey": "customerId", "identifierValue": "   "}], "invalid-param"),
        (
            [
                {"identifierKey": "customerId", "identifierValue": "A"},
                {"identifierKey": "customerid", "identifierValue": "B"},
            ],
            "invalid-param",
        ),
        ([{"identifierKey": "customerId", "identifierValue": "x" * 101}], "invalid-param"),
        ({"identifierKey": "customerId", "identifierValue": "AY1234"}, "invalid-param"),
        ([{"identifierKey": "customerId", "identifierValue": f"C{n}"} for n in range(11)], "invalid-param"),
    ],
)
def test_bad_identifier_lists_are_400_in_the_error_envelope(client, kaleidofin_headers, body, code):
    response = client.post(URL, json=body, headers=kaleidofin_headers)
    assert response.status_code == 400
    assert response.json["success"] is False
    assert response.json["error"]["code"] == code
    assert response.json["error"]["detail"]


def test_malformed_json_is_malformed_request(client, kaleidofin_headers):
    response = client.post(URL, data=b"[{", content_type="application/json", headers=kaleidofin_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed-request"


def test_body_that_is_not_json_is_415(client, kaleidofin_headers):
    response = client.post(URL, data=b"customerId=AY1234", content_type="text/plain", headers=kaleidofin_headers)
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported-media-type"


def test_body_over_the_size_cap_is_413(client, kaleidofin_headers):
    body = json.dumps(ids("X" * 70_000))
    response = client.post(URL, data=body, content_type="application/json", headers=kaleidofin_headers)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload-too-large"


def test_every_call_is_in_the_inbound_log_with_its_outcome(client, kaleidofin_headers, session, vishakha):
    fetch(client, kaleidofin_headers, ids())
    fetch(client, kaleidofin_headers, ids("NOBODY"))
    messages = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [(m.channel, m.path, m.status_code, m.outcome) for m in messages] == [
        ("kaleidofin", URL, 200, "available"),
        ("kaleidofin", URL, 400, "refused:customer-not-found"),
    ]
    assert json.loads(messages[0].body) == ids()
    assert messages[0].partner_ref == "AY1234"
