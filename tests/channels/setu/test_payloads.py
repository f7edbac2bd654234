"""Setu's examples in tests/fakes are its pages', character for character; its spec extract is its spec's; and
where Setu's own examples break Setu's own schema, the breaks are exactly the ones docs/channels/setu.md decides on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import jwt
import pytest

from tests.channels.setu.setu_spec import biller_api, errors_of, request_validator, response_validator
from tests.fakes import setu_payloads as published

DOCS = Path("/work/shared/partner-docs")
needs_docs = pytest.mark.skipif(not DOCS.is_dir(), reason="the partner documents folder is not on this machine")

VERBATIM = {
    "setu-fetch-pay.mdx": [
        "FETCH_BILL_REQUEST",
        "FETCH_BILL_AVAILABLE",
        "FETCH_BILL_NO_OUTSTANDING",
        "FETCH_BILL_CUSTOMER_NOT_FOUND",
        "FETCH_RECEIPT_REQUEST",
        "FETCH_RECEIPT_SUCCESS",
        "FETCH_RECEIPT_FAILURE",
        "EXPIRE_BILL_SUCCESS",
        "EXPIRE_BILL_NOT_FOUND",
    ],
    "setu-validate-pay.mdx": [
        "VALIDATE_CUSTOMER_REQUEST",
        "VALIDATE_CUSTOMER_SUCCESS",
        "VALIDATE_CUSTOMER_NOT_FOUND",
        "VALIDATE_PAY_RECEIPT_REQUEST",
        "VALIDATE_PAY_RECEIPT_SUCCESS",
    ],
    "setu-notifications.mdx": ["SETTLEMENT_NOTIFICATION"],
    "setu-errors.mdx": ["ERROR_OBJECT"],
    "setu-bill-structure.mdx": [
        "BILL_STRUCTURE_AMOUNT",
        "BILL_STRUCTURE_SAMPLE_ITEMS",
        "BILL_STRUCTURE_SAMPLE_FEES",
        "BILL_STRUCTURE_ENTIRE_BILL",
        "BILL_STRUCTURE_FETCH_RESPONSE",
    ],
    "setu-special-cases.mdx": ["EDUCATION_CUSTOMER", "EDUCATION_CUSTOMER_WITH_URL"],
    "setu-settlement-object.mdx": ["SETTLEMENT_SPLIT_EXAMPLE"],
    "setu-jwt.mdx": [
        "JWT_AUTH_HEADER",
        "JWT_SAMPLE_PAYLOAD",
        "JWT_SIGNATURE_EXAMPLE",
        "JWT_SAMPLE_TOKEN",
        "JWT_SAMPLE_SECRET",
        "JWT_SAMPLE_AUDIENCE",
    ],
    "setu-billcollect-openapi.json": ["REF_ID_HEADER_EXAMPLE"],
}


@needs_docs
@pytest.mark.parametrize(("page", "name"), [(page, name) for page, names in VERBATIM.items() for name in names])
def test_example_appears_verbatim_on_its_page(page, name):
    assert getattr(published, name) in (DOCS / page).read_text()


def test_every_example_in_the_module_is_checked_against_its_page():
    checked = {name for names in VERBATIM.values() for name in names}
    constants = {name for name, value in vars(published).items() if name.isupper() and isinstance(value, str)}
    assert constants == checked


@needs_docs
def test_spec_extract_is_setus_spec_unchanged():
    source = json.loads((DOCS / "setu-billcollect-openapi.json").read_text())
    extract = biller_api()
    assert extract["paths"] == {path: source["paths"][path] for path in extract["paths"]}
    assert extract["definitions"] == {name: source["definitions"][name] for name in extract["definitions"]}


def test_spec_extract_holds_every_definition_its_operations_reach():
    spec = biller_api()
    text = json.dumps(spec)
    referenced = {part.split('"')[0] for part in text.split('"#/definitions/')[1:]}
    assert referenced == set(spec["definitions"])
    assert len(spec["paths"]) == 4


# Setu's examples against Setu's schema.


@pytest.mark.parametrize(
    ("name", "path", "status"),
    [
        ("FETCH_BILL_NO_OUTSTANDING", "/bills/fetch", 200),
        ("FETCH_BILL_CUSTOMER_NOT_FOUND", "/bills/fetch", 400),
        ("FETCH_RECEIPT_SUCCESS", "/bills/fetchReceipt", 200),
        ("FETCH_RECEIPT_FAILURE", "/bills/fetchReceipt", 500),
        ("VALIDATE_CUSTOMER_NOT_FOUND", "/customer/validate", 400),
        ("VALIDATE_PAY_RECEIPT_SUCCESS", "/bills/fetchReceipt", 200),
    ],
)
def test_setus_example_answer_satisfies_setus_schema(name, path, status):
    assert errors_of(response_validator(path, status), published.published(getattr(published, name))) == []


def test_setus_fetch_example_breaks_its_schema_where_the_docs_decide():
    # platformFee: required by the spec since 2025-07, absent from the guide (we send a zero fee).
    # customer.additionalInfo: a list in the guide, an object in the spec (we send an object).
    assert errors_of(response_validator("/bills/fetch"), published.published(published.FETCH_BILL_AVAILABLE)) == [
        'data/billDetails/bills/0: "platformFee" is a required property',
        'data/customer/additionalInfo: [{"EMI Amount":"900"},{"Charges":"100"}] is not of type "object"',
    ]


def test_setus_validate_example_breaks_its_schema_where_the_docs_decide():
    body = published.published(published.VALIDATE_CUSTOMER_SUCCESS)
    assert errors_of(response_validator("/customer/validate"), body) == [
        'data/additionalInfo: [{"loan_account_number":"123-45-999"}] is not of type "object"',
        'data/customer/additionalInfo: [{"Application No.":"091191"},{"Registered Mobile":"+91 88XXXXXX04"}] '
        'is not of type "object"',
    ]


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("FETCH_BILL_REQUEST", "/bills/fetch"),
        ("VALIDATE_CUSTOMER_REQUEST", "/customer/validate"),
        ("SETTLEMENT_NOTIFICATION", "/notifications"),
    ],
)
def test_setus_example_request_satisfies_setus_schema(name, path):
    assert errors_of(request_validator(path), published.published(getattr(published, name))) == []


@pytest.mark.parametrize("name", ["FETCH_RECEIPT_REQUEST", "VALIDATE_PAY_RECEIPT_REQUEST"])
def test_setus_receipt_requests_send_null_where_the_schema_wants_an_object(name):
    # Our schema accepts null, an object or a list for paymentDetails.additionalInfo.
    assert errors_of(request_validator("/bills/fetchReceipt"), published.published(getattr(published, name))) == [
        'paymentDetails/additionalInfo: null is not of type "object"'
    ]


# The JWT sample.


def test_jwt_sample_token_is_signed_with_the_pages_secret_for_its_audience():
    claims = jwt.decode(
        published.JWT_SAMPLE_TOKEN,
        published.JWT_SAMPLE_SECRET,
        algorithms=["HS256"],
        audience=published.JWT_SAMPLE_AUDIENCE,
        options={"verify_iat": False},
    )
    # The page shows the claims, then "// is encoded to" and their base64 form.
    shown = published.JWT_SAMPLE_PAYLOAD
    assert claims == published.published(shown[: shown.index("}") + 1])


def test_jwt_sample_token_does_not_verify_with_the_secret_of_the_pages_openssl_command():
    signing_input, _, signature = published.JWT_SAMPLE_TOKEN.rpartition(".")
    digest = hmac.new(b"BBzKUWAZeAS2tBsk0FtJT4ep", signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != signature


# Reading the published text.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, // note\n"b": 2}', {"a": 1, "b": 2}),
        ('{"url": "https://some.url/x"} // trailing', {"url": "https://some.url/x"}),
        ('{"q": "say \\"//hi\\"", "n": 1}', {"q": 'say "//hi"', "n": 1}),
        ('{"path": "C:\\\\", // comment\n"n": 1}', {"path": "C:\\", "n": 1}),
    ],
)
def test_comments_are_removed_outside_strings_only(text, expected):
    assert published.published(text) == expected


def test_fragments_read_as_members_of_an_object():
    items = published.published_fragment(published.BILL_STRUCTURE_SAMPLE_ITEMS)["items"]
    assert [item["aggregates"]["total"]["value"] for item in items] == [600000, 600000]
