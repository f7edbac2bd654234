"""Setu's baseResponse and errorResponse, and which HTTP status a Setu refusal goes out with."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from biller_server.channels.kaleidofin import envelope as kaleidofin_envelope
from biller_server.channels.setu.envelope import render_error, render_error_response, render_success, setu_error
from biller_server.http.errors import ErrorInfo
from biller_server.http.state import request_state
from tests.fakes import setu_payloads as published

REQUEST_ID = "4f1c0d9e2a7b4c55"


def in_request(path: str):
    context = Flask(__name__).test_request_context(path, method="POST")
    context.push()
    request_state()["request_id"] = REQUEST_ID
    return context


@pytest.fixture
def fetch_request():
    context = in_request("/setu/bills/fetch")
    yield
    context.pop()


@pytest.fixture
def receipt_request():
    context = in_request("/setu/bills/fetchReceipt")
    yield
    context.pop()


def test_success_is_status_success_and_data(fetch_request):
    response = render_success({"receipt": {"id": "R1", "date": "2026-11-02T10:00:00.000Z"}})
    assert response.status_code == 200
    assert response.get_json() == {
        "status": 200,
        "success": True,
        "data": {"receipt": {"id": "R1", "date": "2026-11-02T10:00:00.000Z"}},
    }


def test_error_body_has_every_key_of_setus_sample_error_object(fetch_request):
    body = render_error_response(ErrorInfo(400, "customer-not-found", "No customer matches.")).get_json()
    published_keys = set(re.findall(r'"(\w+)"\s*:', published.ERROR_OBJECT))
    assert published_keys == {"status", "success", "error", "code", "title", "detail", "docURL", "traceID", "errors"}
    assert published_keys == set(body) | set(body["error"])


def test_error_body_repeats_the_status_and_carries_the_request_id_as_trace_id(fetch_request):
    response = render_error_response(ErrorInfo(400, "customer-not-found", "No customer matches these identifiers."))
    assert response.status_code == 400
    assert response.get_json() == {
        "status": 400,
        "success": False,
        "error": {
            "code": "customer-not-found",
            "title": "CUSTOMER_NOT_FOUND",
            "detail": "No customer matches these identifiers.",
            "docURL": "",
            "traceID": REQUEST_ID,
            "errors": [],
        },
    }


def test_field_errors_become_setus_child_errors_one_per_field(fetch_request):
    details = {"paymentDetails": {"amountPaid": {"value": ["Must be a JSON integer."]}}, "events": {0: {"id": ["x"]}}}
    body = render_error_response(ErrorInfo(400, "invalid-param", "Does not match.", details)).get_json()
    assert body["error"]["errors"] == [
        {
            "code": "invalid-param",
            "title": "paymentDetails.amountPaid.value",
            "detail": "Must be a JSON integer.",
            "docURL": "",
        },
        {"code": "invalid-param", "title": "events.0.id", "detail": "x", "docURL": ""},
    ]


def test_kaleidofin_refusals_are_written_by_the_same_function(receipt_request):
    # Kaleidofin keeps its statuses: the 500-for-a-posting rule is Setu's channel's alone.
    error = ErrorInfo(400, "bill-not-found", "No bill.", {"partnerBillId": ["Unknown."]})
    assert kaleidofin_envelope.render_error(error).get_data() == render_error_response(error).get_data()
    assert kaleidofin_envelope.render_error(error).status_code == 400


# Setu's channel: which status a refusal goes out with.


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bill-not-found"),
        (400, "bill-already-fulfilled"),
        (400, "incorrect-amount"),
        (400, "customer-not-found"),
        (409, "transaction-conflict"),
    ],
)
def test_payment_posting_refused_for_a_business_reason_is_a_500_keeping_its_code(status, code):
    sent = setu_error(ErrorInfo(status, code, "Refused."), payment_posting=True)
    assert (sent.http_status, sent.code) == (500, code)


@pytest.mark.parametrize("code", ["malformed-request", "invalid-param", "bad-request", "header-not-found"])
def test_payment_posting_refused_for_its_form_stays_a_400(code):
    assert setu_error(ErrorInfo(400, code, "Refused."), payment_posting=True).http_status == 400


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "jwt-token-expired"),
        (401, "unauthorised"),
        (403, "forbidden"),
        (405, "method-not-allowed"),
        (413, "payload-too-large"),
        (415, "unsupported-media-type"),
        (425, "duplicate-request"),
        (503, "service-unavailable"),
    ],
)
def test_payment_posting_refused_before_the_books_keeps_its_status(status, code):
    assert setu_error(ErrorInfo(status, code, "Refused."), payment_posting=True).http_status == status


@pytest.mark.parametrize("code", ["customer-not-found", "insufficient-customer-identifiers", "invalid-param"])
def test_fetch_and_validate_refusals_stay_400(code):
    assert setu_error(ErrorInfo(400, code, "Refused."), payment_posting=False).http_status == 400


@pytest.mark.parametrize("payment_posting", [True, False])
def test_an_unexpected_fault_uses_the_code_setus_fetch_receipt_page_shows(payment_posting):
    sent = setu_error(ErrorInfo(500, "unable-to-fulfil-request", "Could not process."), payment_posting=payment_posting)
    assert (sent.http_status, sent.code) == (500, "unable-to-fulfill-request")
    assert sent.code == published.published(published.FETCH_RECEIPT_FAILURE)["error"]["code"]


def test_setu_renderer_answers_a_refused_payment_posting_with_500(receipt_request):
    response = render_error(ErrorInfo(400, "bill-not-found", "No bill with billerBillID 'X'."))
    assert response.status_code == 500
    assert response.get_json()["status"] == 500
    assert response.get_json()["error"]["code"] == "bill-not-found"


def test_setu_renderer_answers_a_refused_fetch_with_400(fetch_request):
    response = render_error(ErrorInfo(400, "customer-not-found", "No customer."))
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "customer-not-found")
