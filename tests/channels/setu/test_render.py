"""What we send Setu satisfies Setu's own response schemas (setu-billcollect-openapi.json, closed: no field that
Setu's definitions do not name), and says what the books say: the balance due, the amounts the exactness allows,
timestamps in Setu's form within NPCI's date rules."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask

from biller_server.channels.setu import render
from biller_server.channels.setu.envelope import render_error_response, render_success
from biller_server.domain.india import IST
from biller_server.http.errors import ErrorInfo
from biller_server.persistence.models import AmountExactness
from tests.channels.setu.setu_spec import errors_of, response_validator
from tests.factories import BillFactory, CustomerFactory, ReceiptFactory

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
SETU_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


@pytest.fixture
def flask_request():
    with Flask(__name__).test_request_context("/setu/bills/fetch") as context:
        yield context


def envelope(data: dict | None = None) -> dict:
    return render_success(data).get_json()


def customer(**fields: object):
    return CustomerFactory.build(**{"lender_customer_id": "CUST000001", "name": "Asha Devi", **fields})


def bill(**fields: object):
    values = {
        "partner_bill_id": "BILL-000001",
        "loan_account_number": "LAN00000001",
        "name": "November instalment",
        "amount_paise": 100_000,
        "paid_paise": 0,
        "exactness": AmountExactness.EXACT,
        "generated_date": dt.date(2026, 11, 1),
        "due_date": dt.date(2026, 11, 15),
        **fields,
    }
    return BillFactory.build(**values)


def fetched(*bills, who=None) -> dict:
    return render.fetch_bills_data(customer=who or customer(), bills=list(bills), now=NOW)


# Against Setu's own schemas.


@pytest.mark.parametrize("exactness", list(AmountExactness))
def test_fetch_answer_with_a_bill_of_each_exactness_satisfies_setus_schema(flask_request, exactness):
    limits = {"min_amount_paise": 20_000, "max_amount_paise": 80_000} if exactness is AmountExactness.RANGE else {}
    body = envelope(fetched(bill(exactness=exactness, **limits)))
    assert errors_of(response_validator("/bills/fetch"), body) == []


def test_no_outstanding_answer_satisfies_setus_schema(flask_request):
    body = envelope(fetched())
    assert body["data"] == {
        "customer": {"name": "Asha Devi"},
        "billDetails": {"billFetchStatus": "NO_OUTSTANDING", "bills": []},
    }
    assert errors_of(response_validator("/bills/fetch"), body) == []


def test_validate_answer_satisfies_setus_schema(flask_request):
    data = render.validate_customer_data(customer_name="Asha Devi", biller_bill_id="ADHOC-0000000001")
    assert data == {"customer": {"name": "Asha Devi"}, "billerBillID": "ADHOC-0000000001"}
    assert errors_of(response_validator("/customer/validate"), envelope(data)) == []


def test_receipt_answer_satisfies_setus_schema(flask_request):
    receipt = ReceiptFactory.build(
        receipt_number="R0000000042", issued_at=dt.datetime(2026, 11, 2, 10, 0, 5, 123456, tzinfo=dt.UTC)
    )
    data = render.receipt_data(receipt)
    assert data == {"receipt": {"id": "R0000000042", "date": "2026-11-02T10:00:05.123Z"}}
    assert errors_of(response_validator("/bills/fetchReceipt"), envelope(data)) == []


def test_notification_answer_is_the_bare_base_response(flask_request):
    body = envelope()
    assert body == {"status": 200, "success": True}
    assert errors_of(response_validator("/notifications"), body) == []


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/bills/fetch", 400, "customer-not-found"),
        ("/bills/fetch", 401, "jwt-token-expired"),
        ("/customer/validate", 400, "insufficient-customer-identifiers"),
        ("/bills/fetchReceipt", 500, "bill-not-found"),
        ("/bills/fetchReceipt", 503, "service-unavailable"),
        ("/notifications", 400, "invalid-param"),
    ],
)
def test_error_answers_satisfy_setus_error_response(flask_request, path, status, code):
    details = {"events": {0: {"data": {"platformBillIds": ["Missing data for required field."]}}}}
    response = render_error_response(ErrorInfo(status, code, "Refused.", details))
    assert response.status_code == status
    assert errors_of(response_validator(path, status), response.get_json()) == []


def test_a_misspelt_key_would_fail_the_closed_schema(flask_request):
    # The check above can fail: Setu's definitions name billerBillID, not billerBillId.
    body = envelope(fetched(bill()))
    body["data"]["billDetails"]["bills"][0]["billerBillId"] = body["data"]["billDetails"]["bills"][0].pop(
        "billerBillID"
    )
    assert errors_of(response_validator("/bills/fetch"), body) != []


# The bill object.


def test_bill_shows_what_is_due_now_under_its_own_name():
    rendered = render.bill_object(bill(amount_paise=100_000, paid_paise=30_000), account_id="LAN1", now=NOW)
    assert rendered["aggregates"] == {
        "total": {"displayName": "November instalment", "amount": {"value": 70_000, "currencyCode": "INR"}}
    }
    assert rendered["billerBillID"] == "BILL-000001"
    assert rendered["customerAccount"] == {"id": "LAN1"}
    assert rendered["amountExactness"] == "EXACT"
    assert rendered["recurrence"] == "ONE_TIME"


def test_bill_carries_a_zero_platform_fee():
    rendered = render.bill_object(bill(), account_id="LAN1", now=NOW)
    assert rendered["platformFee"] == {
        "displayName": "Platform fee",
        "aggregates": {"total": {"value": 0, "currencyCode": "INR"}},
    }


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"exactness": AmountExactness.EXACT_UP}, {"minimum": 70_000}),
        ({"exactness": AmountExactness.EXACT_DOWN}, {"minimum": 1, "maximum": 70_000}),
        (
            {"exactness": AmountExactness.RANGE, "min_amount_paise": 20_000, "max_amount_paise": 50_000},
            {"minimum": 20_000, "maximum": 50_000},
        ),
        # A RANGE bill's bounds shrink with its balance: never more than is due.
        (
            {"exactness": AmountExactness.RANGE, "min_amount_paise": 20_000, "max_amount_paise": 90_000},
            {"minimum": 20_000, "maximum": 70_000},
        ),
    ],
)
def test_amount_rules_are_the_ones_the_payment_will_be_checked_against(fields, rule):
    rendered = render.bill_object(bill(paid_paise=30_000, **fields), account_id="LAN1", now=NOW)
    assert rendered["validationRules"] == {"amount": rule}


@pytest.mark.parametrize("exactness", [AmountExactness.EXACT, AmountExactness.ANY])
def test_exact_and_any_bills_need_no_amount_rules(exactness):
    assert "validationRules" not in render.bill_object(bill(exactness=exactness), account_id="LAN1", now=NOW)


def test_several_bills_keep_their_order_and_each_names_its_own_account():
    first = bill(partner_bill_id="B1", loan_account_number="LAN-A")
    second = bill(partner_bill_id="B2", loan_account_number=None)
    data = fetched(first, second, who=customer(lender_customer_id="C-77"))
    assert data["billDetails"]["billFetchStatus"] == "AVAILABLE"
    assert [(b["billerBillID"], b["customerAccount"]["id"]) for b in data["billDetails"]["bills"]] == [
        ("B1", "LAN-A"),
        ("B2", "C-77"),
    ]


def test_customer_additional_info_is_an_object_as_setus_spec_types_it(flask_request):
    data = render.fetch_bills_data(customer=customer(), bills=[], now=NOW, additional_info={"Branch": "Pune"})
    assert data["customer"] == {"name": "Asha Devi", "additionalInfo": {"Branch": "Pune"}}
    assert errors_of(response_validator("/bills/fetch"), envelope(data)) == []


# Dates and timestamps.


def test_generated_on_is_the_start_of_the_day_in_india_and_due_date_its_last_millisecond():
    dates = render.bill_dates(dt.date(2026, 11, 1), dt.date(2026, 11, 15), now=NOW)
    assert dates == {"generatedOn": "2026-10-31T18:30:00.000Z", "dueDate": "2026-11-15T18:29:59.999Z"}


def test_bill_due_the_day_it_was_generated_still_has_a_due_date_after_generated_on():
    dates = render.bill_dates(dt.date(2026, 11, 1), dt.date(2026, 11, 1), now=NOW)
    assert dates["generatedOn"] < dates["dueDate"]


def test_generated_on_is_never_in_the_future():
    dates = render.bill_dates(dt.date(2026, 11, 25), dt.date(2026, 12, 10), now=NOW)
    assert dates["generatedOn"] == "2026-11-20T06:00:00.000Z"


def test_due_date_before_the_generated_date_is_left_out_rather_than_broken():
    dates = render.bill_dates(dt.date(2026, 11, 15), dt.date(2026, 11, 1), now=NOW)
    assert dates == {"generatedOn": "2026-11-14T18:30:00.000Z"}


def test_overdue_bill_keeps_its_past_due_date():
    dates = render.bill_dates(dt.date(2026, 9, 1), dt.date(2026, 9, 15), now=NOW)
    assert dates["dueDate"] == "2026-09-15T18:29:59.999Z"


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (dt.datetime(2022, 6, 7, 5, 55, 54, 789999, tzinfo=dt.UTC), "2022-06-07T05:55:54.789Z"),
        (dt.datetime(2022, 6, 7, 11, 25, 54, tzinfo=IST), "2022-06-07T05:55:54.000Z"),
        (dt.datetime(2022, 1, 1, 0, 0, 0, 999, tzinfo=dt.UTC), "2022-01-01T00:00:00.000Z"),
    ],
)
def test_timestamps_are_utc_with_milliseconds(moment, text):
    assert render.setu_timestamp(moment) == text
    assert SETU_TIMESTAMP.fullmatch(text)


def test_a_naive_datetime_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="aware"):
        render.setu_timestamp(dt.datetime(2022, 6, 7, 5, 55))


def test_every_timestamp_in_a_fetch_answer_has_setus_form():
    data = fetched(
        bill(), bill(partner_bill_id="B2", generated_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 9))
    )
    stamps = [b[key] for b in data["billDetails"]["bills"] for key in ("generatedOn", "dueDate")]
    assert len(stamps) == 4
    assert all(SETU_TIMESTAMP.fullmatch(stamp) for stamp in stamps)
