"""POST /digiledge/fetch: acknowledged at once, the bill queued for Digiledge's POST /BillFetchResponse.

digiledge-bill-fetch-api.md has no JSON example; the request here is built from its parameter table.
"""

import pytest

from biller_server.persistence.models import AmountExactness, BillStatus, JobState
from tests.channels.digiledge.protocol import (
    CUSTOMER_ID,
    CUSTOMER_NAME,
    FETCH_RESPONSE_FIELDS,
    LAN,
    OTHER_REF_ID,
    REF_ID,
    TENANT_ID,
    assert_ack,
    borrower,
    delivered_body,
    deliveries,
    fetch_body,
    instalment,
    params,
)

URL = "/digiledge/fetch"


def fetch(client, headers, body):
    return client.post(URL, json=body, headers=headers)


def test_fetch_is_acknowledged_and_queues_the_bill_for_the_bou(client, digiledge_headers, session):
    bill = instalment(borrower(), partner_bill_id="BILL-NOV", name="November instalment", amount_paise=125_050)

    response = fetch(client, digiledge_headers, fetch_body())

    assert_ack(response)
    [job] = deliveries(session)
    assert (job.partner, job.payload["operation"], job.state) == ("digiledge", "BillFetchResponse", JobState.PENDING)
    assert job.dedupe_key == f"digiledge:BillFetchResponse:{REF_ID}"
    assert job.payload["body"] == {
        "refId": REF_ID,
        "status": "Successful",
        "billNumber": "BILL-NOV",
        "customerName": CUSTOMER_NAME,
        "amount": "1250.50",
        "billPeriod": "November instalment",
        "billDate": bill.generated_date.isoformat(),
        "dueDate": bill.due_date.isoformat(),
        "billerResponseTags": [{"name": "BASE_BILL_AMOUNT", "value": "1250.50"}],
        "additionalInfo": [
            {"name": "Loan Account Number", "value": LAN},
            {"name": "Minimum Amount", "value": "1250.50"},
            {"name": "Maximum Amount", "value": "1250.50"},
            {"name": "Instalments Due", "value": "1"},
            {"name": "Total Due", "value": "1250.50"},
        ],
        "tenantId": TENANT_ID,
    }


def test_fetch_response_carries_every_field_of_the_response_page(client, digiledge_headers, session):
    instalment(borrower())
    fetch(client, digiledge_headers, fetch_body())
    body = delivered_body(session, "BillFetchResponse")
    assert set(body) == FETCH_RESPONSE_FIELDS
    assert len(body["billDate"]) == len(body["dueDate"]) == 10


def test_several_bills_due_offer_the_earliest_due_and_tell_the_total(client, digiledge_headers, session):
    customer = borrower()
    instalment(customer, partner_bill_id="BILL-DEC", due_in_days=44, amount_paise=100_000)
    instalment(customer, partner_bill_id="BILL-NOV", due_in_days=14, amount_paise=100_000, paid_paise=40_000)
    instalment(customer, partner_bill_id="BILL-PAID", due_in_days=-16, paid_paise=100_000, status=BillStatus.PAID)

    fetch(client, digiledge_headers, fetch_body())

    body = delivered_body(session, "BillFetchResponse")
    assert (body["billNumber"], body["amount"]) == ("BILL-NOV", "600.00")
    info = {item["name"]: item["value"] for item in body["additionalInfo"]}
    assert (info["Instalments Due"], info["Total Due"]) == ("2", "1600.00")


def test_range_bill_tells_the_amounts_it_accepts(client, digiledge_headers, session):
    instalment(
        borrower(),
        amount_paise=100_000,
        exactness=AmountExactness.RANGE,
        min_amount_paise=20_000,
        max_amount_paise=None,
    )
    fetch(client, digiledge_headers, fetch_body())
    info = {item["name"]: item["value"] for item in delivered_body(session, "BillFetchResponse")["additionalInfo"]}
    assert (info["Minimum Amount"], info["Maximum Amount"]) == ("200.00", "1000.00")


@pytest.mark.parametrize(
    "customer_params",
    [
        params(("loan account number", LAN)),
        params(("LoanAccountNumber", LAN)),
        params(("Customer ID", CUSTOMER_ID), ("Customer Name", " asha  VERMA ")),
    ],
)
def test_customer_param_names_match_ignoring_case_and_spaces(client, digiledge_headers, session, customer_params):
    instalment(borrower(), partner_bill_id="BILL-NOV")
    fetch(client, digiledge_headers, fetch_body(customer_params=customer_params))
    assert delivered_body(session, "BillFetchResponse")["billNumber"] == "BILL-NOV"


@pytest.mark.parametrize("settings_overrides", [{"digiledge_customer_params": {"Account No": "loan_account_number"}}])
def test_customer_param_names_are_configurable(client, digiledge_headers, session, settings_overrides):
    instalment(borrower(), partner_bill_id="BILL-NOV")
    fetch(client, digiledge_headers, fetch_body(customer_params=params(("ACCOUNT NO", LAN))))
    assert delivered_body(session, "BillFetchResponse")["billNumber"] == "BILL-NOV"


@pytest.mark.parametrize(
    ("customer_params", "code"),
    [
        (params(("Loan Account Number", "LAN-NOBODY")), "BLR001"),
        (params(("Loan Account Number", LAN), ("Customer Name", "Somebody Else")), "BLR001"),
        (params(("Favourite Colour", "blue")), "BLR002"),
        (params(("Customer Name", CUSTOMER_NAME)), "BLR002"),
        (params(("Loan Account Number", "  ")), "BLR002"),
        (params(("Loan Account Number", LAN), ("Loan Number", "LAN-OTHER")), "BLR002"),
    ],
    ids=["unknown-customer", "wrong-name", "unknown-name", "name-only", "empty-value", "two-values"],
)
def test_customer_not_found_is_acknowledged_and_answered_with_a_failure(
    client, digiledge_headers, session, customer_params, code
):
    instalment(borrower())

    response = fetch(client, digiledge_headers, fetch_body(customer_params=customer_params))

    assert_ack(response)
    body = delivered_body(session, "BillFetchResponse")
    assert set(body) == {"refId", "status", "errorCode", "errorDescription", "tenantId"}
    assert (body["status"], body["errorCode"]) == ("Failure", code)
    assert 1 <= len(body["errorDescription"]) <= 100


def test_customer_with_nothing_due_gets_a_no_bill_due_failure(client, digiledge_headers, session):
    instalment(borrower(), paid_paise=100_000, status=BillStatus.PAID)
    fetch(client, digiledge_headers, fetch_body())
    body = delivered_body(session, "BillFetchResponse")
    assert (body["status"], body["errorCode"], body["errorDescription"]) == ("Failure", "BLR003", "No bill is due")


def test_repeated_fetch_queues_one_delivery_and_gets_the_same_ack(client, digiledge_headers, session):
    instalment(borrower())
    first = fetch(client, digiledge_headers, fetch_body())
    repeats = [fetch(client, digiledge_headers, fetch_body()) for _ in range(3)]
    assert all(repeat.get_data() == first.get_data() for repeat in repeats)
    assert len(deliveries(session)) == 1


def test_another_ref_id_is_another_fetch(client, digiledge_headers, session):
    instalment(borrower())
    fetch(client, digiledge_headers, fetch_body())
    fetch(client, digiledge_headers, fetch_body(ref_id=OTHER_REF_ID))
    assert [job.payload["body"]["refId"] for job in deliveries(session)] == [REF_ID, OTHER_REF_ID]


def test_same_ref_id_for_another_customer_is_a_conflict_and_queues_nothing(client, digiledge_headers, session):
    instalment(borrower())
    fetch(client, digiledge_headers, fetch_body())

    response = fetch(client, digiledge_headers, fetch_body(customer_params=params(("Customer ID", "SOMEONE"))))

    assert_ack(response, 409, "CONFLICT")
    assert REF_ID in response.json["reason"]
    assert len(deliveries(session)) == 1


@pytest.mark.parametrize("settings_overrides", [{"digiledge_tenant_id": "OU42"}])
def test_tenant_id_falls_back_to_the_setting_when_the_request_has_none(
    client, digiledge_headers, session, settings_overrides
):
    instalment(borrower())
    body = fetch_body()
    del body["tenantId"]
    fetch(client, digiledge_headers, body)
    assert delivered_body(session, "BillFetchResponse")["tenantId"] == "OU42"


def test_without_any_tenant_id_the_response_has_none(client, digiledge_headers, session):
    instalment(borrower())
    body = fetch_body()
    del body["tenantId"]
    fetch(client, digiledge_headers, body)
    assert "tenantId" not in delivered_body(session, "BillFetchResponse")


@pytest.mark.parametrize("settings_overrides", [{"digiledge_biller_id": "LENDER000NAT99"}])
def test_a_request_for_another_biller_is_invalid_and_queues_nothing(
    client, digiledge_headers, session, settings_overrides
):
    response = fetch(client, digiledge_headers, fetch_body())
    assert_ack(response, 400, "INVALID")
    assert "LENDER000NAT01" in response.json["reason"]
    assert deliveries(session) == []


@pytest.mark.parametrize(
    "change",
    [
        {"refId": None},
        {"refId": "REF WITH SPACES"},
        {"refId": "R" * 36},
        {"billerId": None},
        {"customerParams": None},
        {"customerParams": [{"name": "Loan Account Number"}]},
        {"customerParams": "LAN00000001"},
    ],
    ids=["no-ref", "ref-spaces", "ref-too-long", "no-biller", "no-params", "param-no-value", "params-not-list"],
)
def test_malformed_fetch_is_invalid_and_queues_nothing(client, digiledge_headers, session, change):
    body = {key: value for key, value in {**fetch_body(), **change}.items() if value is not None}
    response = fetch(client, digiledge_headers, body)
    assert_ack(response, 400, "INVALID")
    assert deliveries(session) == []
