"""POST /digiledge/validation: acknowledged at once, the result queued for Digiledge's POST /BillValidationResponse."""

import pytest

from biller_server.persistence.models import BillStatus
from tests.channels.digiledge.protocol import (
    CUSTOMER_NAME,
    LAN,
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

URL = "/digiledge/validation"

# digiledge-bill-validate-api.md, "Json Formatted Request Example", verbatim (its key is literally "billerId:").
DOCUMENTED_EXAMPLE = """{
"refId": "String",
"billerId:": "String", "customerParams": [
{
"name": "String",
"value": "String"
}
],
"tenantId" : "String"
}"""
# digiledge-billvalidation-response-endpoint.md, the body the biller sends: its keys.
RESPONSE_EXAMPLE_KEYS = {"refId", "errorCode", "errorDescription", "status", "additionalInfo", "tenantId"}


def validate(client, headers, body):
    return client.post(URL, json=body, headers=headers)


def test_documented_example_is_acknowledged_and_answered_with_a_failure(client, digiledge_headers, session):
    response = client.post(URL, data=DOCUMENTED_EXAMPLE, content_type="application/json", headers=digiledge_headers)

    assert_ack(response)
    body = delivered_body(session, "BillValidationResponse")
    assert set(body) == RESPONSE_EXAMPLE_KEYS
    # "String" is no customerParams name this biller accepts.
    assert (body["refId"], body["status"], body["errorCode"]) == ("String", "Failure", "BLR002")
    assert (body["additionalInfo"], body["tenantId"]) == ([], "String")


def test_customer_with_a_bill_due_is_valid(client, digiledge_headers, session):
    instalment(borrower(), partner_bill_id="BILL-NOV", amount_paise=100_000)

    assert_ack(validate(client, digiledge_headers, fetch_body()))

    body = delivered_body(session, "BillValidationResponse")
    assert body["status"] == "Successful"
    assert set(body) == {"refId", "status", "additionalInfo", "tenantId"}
    info = {item["name"]: item["value"] for item in body["additionalInfo"]}
    assert info["Customer Name"] == CUSTOMER_NAME
    assert (info["Bill Number"], info["Amount Due"], info["Loan Account Number"]) == ("BILL-NOV", "1000.00", LAN)
    assert (body["refId"], body["tenantId"]) == (REF_ID, TENANT_ID)


def test_customer_with_nothing_due_is_not_valid(client, digiledge_headers, session):
    instalment(borrower(), paid_paise=100_000, status=BillStatus.PAID)
    validate(client, digiledge_headers, fetch_body())
    body = delivered_body(session, "BillValidationResponse")
    assert (body["status"], body["errorCode"], body["additionalInfo"]) == ("Failure", "BLR003", [])


def test_unknown_customer_is_not_valid(client, digiledge_headers, session):
    validate(client, digiledge_headers, fetch_body(customer_params=params(("Loan Account Number", "NOBODY"))))
    body = delivered_body(session, "BillValidationResponse")
    assert (body["status"], body["errorCode"]) == ("Failure", "BLR001")


@pytest.mark.parametrize(
    "customer_params",
    [
        {"tags": [{"name": "Loan Account Number", "value": LAN}]},
        {"tags": {"name": "Loan Account Number", "value": LAN}},
    ],
    ids=["tags-list", "tags-object"],
)
def test_customer_params_as_the_tables_tags_object_are_read_too(client, digiledge_headers, session, customer_params):
    instalment(borrower())
    body = {"refID": REF_ID, "billerId": "LENDER000NAT01", "customerParams": customer_params, "tenantId": TENANT_ID}
    assert_ack(validate(client, digiledge_headers, body))
    assert delivered_body(session, "BillValidationResponse")["status"] == "Successful"


def test_repeated_validation_queues_one_delivery_and_gets_the_same_ack(client, digiledge_headers, session):
    instalment(borrower())
    first = validate(client, digiledge_headers, fetch_body())
    second = validate(client, digiledge_headers, fetch_body())
    assert first.get_data() == second.get_data()
    assert len(deliveries(session)) == 1


def test_a_fetch_and_a_validation_with_one_ref_id_are_two_requests(client, digiledge_headers, session):
    instalment(borrower())
    client.post("/digiledge/fetch", json=fetch_body(), headers=digiledge_headers)
    validate(client, digiledge_headers, fetch_body())
    assert [job.payload["operation"] for job in deliveries(session)] == ["BillFetchResponse", "BillValidationResponse"]


def test_validation_without_customer_params_is_invalid(client, digiledge_headers, session):
    body = fetch_body()
    del body["customerParams"]
    assert_ack(validate(client, digiledge_headers, body), 400, "INVALID")
    assert deliveries(session) == []
