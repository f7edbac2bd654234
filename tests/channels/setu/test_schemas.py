"""Setu's requests load as its pages show them, and what is not Setu's is refused with the field named.

Bodies go through the server's own JSON parser (``parse_exact_json``: a JSON number that is not an integer becomes
a Decimal), so each case is what a view would see.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from decimal import Decimal

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, ValidationError

from biller_server.channels.digiledge import schemas as digiledge_schemas
from biller_server.channels.kaleidofin import schemas as kaleidofin_schemas
from biller_server.channels.setu import schemas as s
from biller_server.http.parsing import RefusedJSON, parse_exact_json
from tests.channels.setu.setu_spec import biller_api
from tests.fakes import setu_payloads as published

UTC = dt.UTC


def load(schema: Schema, text: str) -> dict:
    return schema.load(parse_exact_json(text.encode()))


def receipt_body(**payment_details: object) -> str:
    """Setu's fetchReceipt example with some paymentDetails replaced (a value of ``...`` removes the field)."""
    body = json.loads(json.dumps(s.FETCH_RECEIPT_EXAMPLE))
    for name, value in payment_details.items():
        if value is ...:
            body["paymentDetails"].pop(name)
        else:
            body["paymentDetails"][name] = value
    return json.dumps(body)


def refusal(schema: Schema, text: str) -> dict:
    with pytest.raises(ValidationError) as refused:
        load(schema, text)
    return refused.value.messages


# Setu's own requests, verbatim.


def test_fetch_bill_request_from_setus_page_loads():
    loaded = load(s.SetuFetchBillsRequestSchema(), published.strip_comments(published.FETCH_BILL_REQUEST))
    assert loaded == {"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": "9117534711"}]}


def test_validate_customer_request_from_setus_page_loads():
    loaded = load(s.SetuValidateCustomerRequestSchema(), published.strip_comments(published.VALIDATE_CUSTOMER_REQUEST))
    assert loaded["customerIdentifiers"] == [{"attributeName": "customerId", "attributeValue": "9117534711"}]


def test_fetch_receipt_request_from_setus_page_loads_with_amounts_in_paise():
    loaded = load(s.SetuFetchReceiptRequestSchema(), published.strip_comments(published.FETCH_RECEIPT_REQUEST))
    assert loaded == {
        "platformBillID": "906910589572351478",
        "billerBillID": "891234567",
        "paymentDetails": {
            "amountPaid": 1000,
            "billAmount": 1000,
            "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
            "uniquePaymentRefID": "PP012151MYB616O9BSY1",
            "instrument": "UPI",
            "additionalInfo": None,
            "transactionNote": "",
            "transactionTimestamp": dt.datetime(2020, 5, 22, 3, 5, 22, tzinfo=UTC),
            "campaignID": "",
        },
    }


def test_validate_and_pay_receipt_request_from_setus_page_repeats_a_key_and_is_refused():
    # The page's example names additionalInfo twice (a list, then null): which one was meant? Every body with a
    # repeated key is refused at the parse (issue 13), this one too.
    with pytest.raises(RefusedJSON, match='repeats the key "additionalInfo"'):
        load(s.SetuFetchReceiptRequestSchema(), published.strip_comments(published.VALIDATE_PAY_RECEIPT_REQUEST))


def test_validate_and_pay_receipt_request_from_setus_page_loads_without_a_bill_amount():
    text = published.strip_comments(published.VALIDATE_PAY_RECEIPT_REQUEST).replace('"additionalInfo": null,', "")
    loaded = load(s.SetuFetchReceiptRequestSchema(), text)
    details = loaded["paymentDetails"]
    assert details["billAmount"] is None
    assert details["amountPaid"] == 1000
    assert details["additionalInfo"] == [{"loan_account_number": "123-45-999"}]


def test_settlement_notification_from_setus_page_loads():
    loaded = load(s.SetuNotificationRequestSchema(), published.strip_comments(published.SETTLEMENT_NOTIFICATION))
    assert loaded["partnerDetails"] == {"appID": "string", "productInstanceID": "string"}
    (event,) = loaded["events"]
    assert event["id"] == "f3b41c8f-72fc-485d-b39a-cf497787a039"
    assert event["type"] == s.SETTLEMENT_EVENT
    assert event["timeStamp"] == dt.datetime(2020, 7, 9, 11, 11, 23, 984000, tzinfo=UTC)
    assert event["data"] == {
        "amountSettled": 108400,
        "platformBillIds": ["platformBillId1", "platformBillId2"],
        "status": "SETTLEMENT_SUCCESSFUL",
        "transactionId": "1074362738220",
    }


@pytest.mark.parametrize(
    ("example", "page_payload"),
    [
        (s.FETCH_BILLS_EXAMPLE, published.FETCH_BILL_REQUEST),
        (s.VALIDATE_CUSTOMER_EXAMPLE, published.VALIDATE_CUSTOMER_REQUEST),
        (s.FETCH_RECEIPT_EXAMPLE, published.FETCH_RECEIPT_REQUEST),
        (s.NOTIFICATION_EXAMPLE, published.SETTLEMENT_NOTIFICATION),
    ],
)
def test_openapi_examples_are_setus_own(example, page_payload):
    assert example == published.published(page_payload)


# Amounts: {value, currencyCode}, value a JSON integer of paise.


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1000.0", "a decimal point, even with nothing after it"),
        ("1000.5", "a fraction of a paisa"),
        ("1e3", "an exponent"),
        ("1e309", "beyond a float"),
        ("1e999999999", "beyond any decimal context"),
        ('"1000"', "a string"),
        ("true", "a boolean"),
        ("-1", "negative"),
        ("0", "nothing paid"),
        ("1000000000000000", "ten lakh crore rupees"),
        ("100000000000000000000000000000000000000000", "a 42-digit integer"),
        ("null", "null"),
        ('{"value": 1000}', "an object"),
        ("[1000]", "a list"),
    ],
)
def test_amount_paid_that_is_not_whole_positive_paise_is_refused(value, why):
    text = receipt_body(amountPaid={"value": "VALUE", "currencyCode": "INR"}).replace('"VALUE"', value)
    messages = refusal(s.SetuFetchReceiptRequestSchema(), text)
    assert list(messages) == ["paymentDetails"], why
    assert list(messages["paymentDetails"]["amountPaid"]) == ["value"], why


@pytest.mark.parametrize("amount", ["1000", '"1000"', "null", "[]", '{"currencyCode": "INR"}'])
def test_amount_paid_that_is_not_an_amount_object_is_refused(amount):
    text = receipt_body(amountPaid="AMOUNT").replace('"AMOUNT"', amount)
    assert "amountPaid" in refusal(s.SetuFetchReceiptRequestSchema(), text)["paymentDetails"]


def test_amount_value_refusal_names_the_field_and_the_unit():
    messages = refusal(s.SetuFetchReceiptRequestSchema(), receipt_body(amountPaid={"value": "1000"}))
    (message,) = messages["paymentDetails"]["amountPaid"]["value"]
    assert "integer of paise" in message


def test_amount_is_refused_when_the_parser_hands_over_a_float():
    # A caller that bypasses the exact parser: a Python float is no more acceptable than a Decimal.
    with pytest.raises(ValidationError):
        s.SetuAmountSchema().load({"value": 1000.0, "currencyCode": "INR"})
    with pytest.raises(ValidationError):
        s.SetuAmountSchema().load({"value": Decimal("1000"), "currencyCode": "INR"})


def test_bill_amount_may_be_zero_but_amount_paid_may_not():
    assert s.SetuAmountSchema().load({"value": 0}) == 0
    with pytest.raises(ValidationError):
        s.SetuPaidAmountSchema().load({"value": 0})


def test_largest_accepted_amount_is_just_under_ten_lakh_crore_rupees():
    assert s.SetuPaidAmountSchema().load({"value": 10**15 - 1}) == 10**15 - 1


@pytest.mark.parametrize("currency", ['"INR"', '""', "null", None])
def test_currency_code_inr_empty_null_or_absent_is_rupees(currency):
    amount = '{"value": 1000}' if currency is None else f'{{"value": 1000, "currencyCode": {currency}}}'
    loaded = load(s.SetuFetchReceiptRequestSchema(), receipt_body(amountPaid="AMOUNT").replace('"AMOUNT"', amount))
    assert loaded["paymentDetails"]["amountPaid"] == 1000


@pytest.mark.parametrize("currency", ['"USD"', '"inr"', '" INR"', "356", "true", '["INR"]'])
def test_currency_code_other_than_inr_is_refused(currency):
    text = receipt_body(amountPaid="AMOUNT").replace('"AMOUNT"', f'{{"value": 1000, "currencyCode": {currency}}}')
    messages = refusal(s.SetuFetchReceiptRequestSchema(), text)
    assert "currencyCode" in messages["paymentDetails"]["amountPaid"]


def test_settled_amount_in_a_notification_is_whole_paise_too():
    body = published.published(published.SETTLEMENT_NOTIFICATION)
    body["events"][0]["data"]["amountSettled"]["value"] = Decimal("1084.00")
    with pytest.raises(ValidationError) as refused:
        s.SetuNotificationRequestSchema().load(body)
    assert "value" in refused.value.messages["events"][0]["data"]["amountSettled"]


# Identifiers and references.


@pytest.mark.parametrize(
    "digits",
    [
        "\u0661\u0662\u0663",  # Arabic-Indic
        "\u0967\u0968\u0969",  # Devanagari
        "\u09e7\u09e8\u09e9",  # Bengali
        "\uff11\uff12\uff13",  # fullwidth
        "12\u00b3",  # superscript three
    ],
)
def test_digits_other_than_ascii_are_refused(digits):
    with pytest.raises(ValidationError, match="Only the digits 0-9"):
        s.refuse_non_ascii_digits(f"LN{digits}")


def test_text_in_other_scripts_without_digits_is_accepted():
    s.refuse_non_ascii_digits("राम कुमार")
    s.refuse_non_ascii_digits("LN-0042")


def test_customer_identifier_value_with_non_ascii_digits_is_refused():
    body = '{"customerIdentifiers": [{"attributeName": "loanNumber", "attributeValue": "\u0967\u0968\u0969"}]}'
    messages = refusal(s.SetuFetchBillsRequestSchema(), body)
    assert "attributeValue" in messages["customerIdentifiers"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("uniquePaymentRefID", "PP0\u0967"),
        ("uniquePaymentRefID", "PP01 21"),
        ("uniquePaymentRefID", "PP01\t21"),
        ("uniquePaymentRefID", "PP0121\n"),
        ("uniquePaymentRefID", ""),
        ("uniquePaymentRefID", "P" * 101),
        ("uniquePaymentRefID", 12345),
        ("platformTransactionRefID", "ref\u00e9"),
    ],
)
def test_setu_reference_that_is_not_printable_ascii_is_refused(field, value):
    messages = refusal(s.SetuFetchReceiptRequestSchema(), receipt_body(**{field: value}))
    assert field in messages["paymentDetails"]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("891234567", True),
        ("BILL 0001", True),  # a lender's own bill id may hold a space: the upload allows one
        ("\uff18\uff19\uff11", False),
        ("", False),
        ("B" * 65, False),
        (891234567, False),
    ],
)
def test_biller_bill_id_is_our_own_id_up_to_64_characters(value, accepted):
    body = {**s.FETCH_RECEIPT_EXAMPLE, "billerBillID": value}
    if accepted:
        assert s.SetuFetchReceiptRequestSchema().load(body)["billerBillID"] == value
    else:
        with pytest.raises(ValidationError) as refused:
            s.SetuFetchReceiptRequestSchema().load(body)
        assert "billerBillID" in refused.value.messages


def test_platform_bill_id_given_as_a_number_is_refused():
    messages = refusal(s.SetuFetchReceiptRequestSchema(), json.dumps({**s.FETCH_RECEIPT_EXAMPLE, "platformBillID": 9}))
    assert "platformBillID" in messages


def test_unique_payment_ref_id_is_required_although_setus_spec_makes_it_optional():
    messages = refusal(s.SetuFetchReceiptRequestSchema(), receipt_body(uniquePaymentRefID=...))
    assert messages["paymentDetails"]["uniquePaymentRefID"] == ["Missing data for required field."]


def test_empty_identifier_value_is_loaded_for_the_resolver_to_skip():
    body = json.dumps(
        {
            "customerIdentifiers": [
                {"attributeName": "loanNumber", "attributeValue": ""},
                {"attributeName": "mobile", "attributeValue": "9876543210"},
            ]
        }
    )
    loaded = load(s.SetuFetchBillsRequestSchema(), body)
    assert [item["attributeValue"] for item in loaded["customerIdentifiers"]] == ["", "9876543210"]


def test_more_identifiers_than_any_setu_biller_has_are_refused():
    items = [{"attributeName": f"key{n}", "attributeValue": "1"} for n in range(s.MAX_IDENTIFIERS + 1)]
    messages = refusal(s.SetuFetchBillsRequestSchema(), json.dumps({"customerIdentifiers": items}))
    assert "customerIdentifiers" in messages


@pytest.mark.parametrize("body", ["{}", '{"customerIdentifiers": null}', '{"customerIdentifiers": {"a": "b"}}'])
def test_fetch_without_an_identifier_list_is_refused(body):
    assert "customerIdentifiers" in refusal(s.SetuFetchBillsRequestSchema(), body)


def test_unknown_fields_are_ignored_at_every_level():
    body = json.loads(json.dumps(s.FETCH_RECEIPT_EXAMPLE))
    body["newTopLevelField"] = "x"
    body["paymentDetails"]["newDetail"] = {"nested": 1}
    body["paymentDetails"]["amountPaid"]["newAmountField"] = 5
    loaded = s.SetuFetchReceiptRequestSchema().load(body)
    assert "newTopLevelField" not in loaded
    assert "newDetail" not in loaded["paymentDetails"]
    assert loaded["paymentDetails"]["amountPaid"] == 1000


# Timestamps.


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2020-05-22T03:05:22.000Z", dt.datetime(2020, 5, 22, 3, 5, 22, tzinfo=UTC)),
        ("2020-05-22T03:05:22Z", dt.datetime(2020, 5, 22, 3, 5, 22, tzinfo=UTC)),
        ("2020-05-22T03:05:22.123456789Z", dt.datetime(2020, 5, 22, 3, 5, 22, 123456, tzinfo=UTC)),
        ("2020-05-22T08:35:22.5+05:30", dt.datetime(2020, 5, 22, 3, 5, 22, 500000, tzinfo=UTC)),
        ("2020-05-22T03:05:22", dt.datetime(2020, 5, 22, 3, 5, 22, tzinfo=UTC)),  # "in UTC", says the spec
        ("", None),
        (None, None),
    ],
)
def test_transaction_timestamp_is_read_as_utc(text, moment):
    loaded = s.SetuFetchReceiptRequestSchema().load(
        {
            **s.FETCH_RECEIPT_EXAMPLE,
            "paymentDetails": {**s.FETCH_RECEIPT_EXAMPLE["paymentDetails"], "transactionTimestamp": text},
        }
    )
    assert loaded["paymentDetails"]["transactionTimestamp"] == moment


def test_absent_transaction_timestamp_is_none():
    loaded = load(s.SetuFetchReceiptRequestSchema(), receipt_body(transactionTimestamp=...))
    assert loaded["paymentDetails"]["transactionTimestamp"] is None


@pytest.mark.parametrize(
    "text",
    [
        "2020-05-22T03:05:22.000Z\n",  # what a "$"-anchored pattern would let through
        "2020-13-01T00:00:00Z",
        "2020-02-30T00:00:00Z",
        "0001-01-01T00:00:03+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "2020-05-22T24:00:00Z",
        "2020-05-22T03:05:22+25:00",
        "2020-05-22 03:05:22Z",
        "22/05/2020",
        "\u0968\u0966\u0968\u0966-05-22T03:05:22Z",
        "1590116722000",
    ],
)
def test_transaction_timestamp_that_is_not_a_real_utc_timestamp_is_refused(text):
    messages = refusal(s.SetuFetchReceiptRequestSchema(), receipt_body(transactionTimestamp=text))
    assert "transactionTimestamp" in messages["paymentDetails"]


def test_transaction_timestamp_as_a_number_is_refused():
    messages = refusal(s.SetuFetchReceiptRequestSchema(), receipt_body(transactionTimestamp=1590116722000))
    assert "transactionTimestamp" in messages["paymentDetails"]


# Free text and additionalInfo.


def test_transaction_note_keeps_setus_80_character_limit():
    assert load(s.SetuFetchReceiptRequestSchema(), receipt_body(transactionNote="n" * 80))
    messages = refusal(s.SetuFetchReceiptRequestSchema(), receipt_body(transactionNote="n" * 81))
    assert "transactionNote" in messages["paymentDetails"]


def test_transaction_note_is_words_for_people_and_may_hold_any_digits():
    loaded = load(s.SetuFetchReceiptRequestSchema(), receipt_body(transactionNote="किस्त १२"))
    assert loaded["paymentDetails"]["transactionNote"] == "किस्त १२"


@pytest.mark.parametrize("info", [{"loan": "123"}, [{"loan_account_number": "123-45-999"}], None])
def test_additional_info_is_kept_as_sent(info):
    assert (
        load(s.SetuFetchReceiptRequestSchema(), receipt_body(additionalInfo=info))["paymentDetails"]["additionalInfo"]
        == info
    )


@pytest.mark.parametrize("info", ["text", 5, True])
def test_additional_info_that_is_not_an_object_or_list_is_refused(info):
    assert (
        "additionalInfo"
        in refusal(s.SetuFetchReceiptRequestSchema(), receipt_body(additionalInfo=info))["paymentDetails"]
    )


# Notifications.


def notification_with(**event_fields: object) -> dict:
    body = published.published(published.SETTLEMENT_NOTIFICATION)
    body["events"][0].update(event_fields)
    return body


def test_event_of_another_type_keeps_its_data_as_sent():
    loaded = s.SetuNotificationRequestSchema().load(notification_with(type="SOMETHING_NEW", data={"any": ["thing"]}))
    assert loaded["events"][0]["data"] == {"any": ["thing"]}


def test_settlement_event_without_the_bills_it_settles_is_refused_with_the_path_named():
    data = {"amountSettled": {"value": 100, "currencyCode": "INR"}, "status": "SETTLEMENT_SUCCESSFUL"}
    with pytest.raises(ValidationError) as refused:
        s.SetuNotificationRequestSchema().load(notification_with(data=data))
    assert refused.value.messages == {
        "events": {0: {"data": {"platformBillIds": ["Missing data for required field."]}}}
    }


def test_settlement_event_with_an_empty_bill_list_is_refused():
    body = notification_with()
    body["events"][0]["data"]["platformBillIds"] = []
    with pytest.raises(ValidationError):
        s.SetuNotificationRequestSchema().load(body)


def test_settlement_event_without_a_transaction_id_loads():
    body = notification_with()
    del body["events"][0]["data"]["transactionId"]
    assert s.SetuNotificationRequestSchema().load(body)["events"][0]["data"]["transactionId"] is None


@pytest.mark.parametrize("stamp", [Decimal("1594293083984.5"), "1594293083984", True, -1, 10**20])
def test_event_time_stamp_that_is_not_epoch_milliseconds_is_refused(stamp):
    with pytest.raises(ValidationError) as refused:
        s.SetuNotificationRequestSchema().load(notification_with(timeStamp=stamp))
    assert "timeStamp" in refused.value.messages["events"][0]


def test_notification_without_events_is_refused():
    body = notification_with()
    body["events"] = []
    with pytest.raises(ValidationError) as refused:
        s.SetuNotificationRequestSchema().load(body)
    assert "events" in refused.value.messages


# The ref_id header.


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"ref_id": published.REF_ID_HEADER_EXAMPLE}, published.REF_ID_HEADER_EXAMPLE),
        ({}, None),
        ({"ref_id": ""}, None),
        ({"ref_id": "PP01-23"}, None),
        ({"ref_id": "P" * 36}, None),
        ({"ref_id": "PP\u0967\u0968"}, None),
    ],
)
def test_ref_id_header_is_kept_only_when_it_is_npcis_alphanumeric_reference(headers, expected):
    assert s.ref_id_of(headers) == expected


# The OpenAPI document.


def test_request_schemas_render_in_openapi_with_amounts_as_integer_paise():
    spec = APISpec("t", "1", "3.0.3", plugins=[MarshmallowPlugin()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec.components.schema("SetuFetchReceiptRequest", schema=s.SetuFetchReceiptRequestSchema)
        spec.components.schema("SetuNotificationRequest", schema=s.SetuNotificationRequestSchema)
    components = spec.to_dict()["components"]["schemas"]
    value = components["SetuPaidAmount"]["properties"]["value"]
    assert (value["type"], value["minimum"], value["maximum"]) == ("integer", 1, 10**15 - 1)
    assert components["SetuPaymentDetails"]["properties"]["uniquePaymentRefID"]["pattern"] == "^[!-~]+$"
    assert "uniquePaymentRefID" in components["SetuPaymentDetails"]["required"]


def test_every_schema_of_the_three_channels_fits_in_one_openapi_document_without_a_clash():
    spec = APISpec("t", "1", "3.0.3", plugins=[MarshmallowPlugin()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # apispec warns when two schemas resolve to one component name
        for module in (kaleidofin_schemas, digiledge_schemas, s):
            for name in sorted(_schema_names(module)):
                if name.removesuffix("Schema") not in spec.components.schemas:
                    spec.components.schema(name.removesuffix("Schema"), schema=getattr(module, name))
    components = spec.to_dict()["components"]["schemas"]
    assert {"SetuFetchBillsResponse", "SetuFetchReceiptResponse", "ErrorResponse", "FetchReceiptRequest"} <= set(
        components
    )
    # Every field Setu's spec requires of a bill (definitions/bill) is one we document as sent.
    assert set(components["SetuBill"]["required"]) == set(biller_api()["definitions"]["bill"]["required"])


def _schema_names(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Schema) and value.__module__ == module.__name__
    }


def test_setu_schema_names_do_not_collide_with_another_channels_in_the_openapi_components():
    # Component names are global in the OpenAPI document; two schemas of one name would hide each other.
    setu = _schema_names(s)
    assert not setu & (_schema_names(kaleidofin_schemas) | _schema_names(digiledge_schemas))


def test_kaleidofin_documents_its_refusals_with_setus_error_response_schema():
    assert kaleidofin_schemas.ErrorResponseSchema is s.ErrorResponseSchema
