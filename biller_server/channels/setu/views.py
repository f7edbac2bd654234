"""Setu BillCollect's biller API under the channel's prefix: parse, call one domain function, render.

``/bills/fetch`` (and ``/bills/fetch/``), ``/customer/validate``, ``/bills/fetchReceipt``, and ``/notifications``
(also ``/api/notifications``). Every decision behind them is in docs/channels/setu.md.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import flask
from flask import request
from flask.views import MethodView
from flask_smorest import abort

from biller_server.channels.setu import render
from biller_server.channels.setu import schemas as s
from biller_server.channels.setu.envelope import refuse_identifiers, render_success
from biller_server.domain.billing.adhoc import open_adhoc_account
from biller_server.domain.billing.fetch import CustomerBills, fetch_customer_bills
from biller_server.domain.billing.identifiers import IdentifiersRefused, resolve_identifiers
from biller_server.domain.payments.recording import PaymentRequest, record_posted_payment
from biller_server.domain.settlement.notifications import SettlementNotice, receive_settlement_notification
from biller_server.extensions import get_settings, request_session
from biller_server.http.inbound_log import commit_with_inbound_log, note_inbound_outcome, note_read_only_request
from biller_server.http.parsing import ChannelBlueprint
from biller_server.persistence.models import Channel
from biller_server.persistence.types import utcnow

blueprint = ChannelBlueprint(
    "setu",
    __name__,
    description="Setu BillCollect: bill fetch, customer validation, payment posting (receipt) and notifications.",
)

ERROR_RESPONSES = {
    400: "Refused: malformed body (malformed-request), invalid parameter (invalid-param), customer not found, "
    "insufficient identifiers.",
    401: "Missing or invalid credentials (unauthorised, jwt-verification-failed, jwt-token-expired).",
    403: "Source address not allowed (forbidden); validate-and-pay not enabled (request-not-authorised).",
    404: "No such path under the prefix (path-not-found).",
    405: "Not a POST (method-not-allowed).",
    413: "Body larger than the endpoint's cap (payload-too-large).",
    415: "Body is not JSON (unsupported-media-type).",
    425: "A JWT id already used with another body (duplicate-request).",
    500: "fetchReceipt: the payment cannot be taken (bill-not-found, transaction-conflict); any endpoint: an "
    "unexpected fault (unable-to-fulfill-request). Setu retries with the same body.",
    503: "Temporarily unavailable (database); retry (service-unavailable).",
}

_document_errors = blueprint.document_errors(s.ErrorResponseSchema, ERROR_RESPONSES)


def _resolve(body: dict[str, Any]) -> dict[str, str]:
    """The identifiers' meanings; a blank one (an optional identifier left empty on the Bridge) is skipped."""
    settings = get_settings().setu
    pairs = [
        (item["attributeName"], item["attributeValue"])
        for item in body["customerIdentifiers"]
        if item["attributeValue"].strip()
    ]
    try:
        return resolve_identifiers(pairs, settings.identifier_keys, limit=settings.max_identifiers)
    except IdentifiersRefused as refused:
        refuse_identifiers(refused, name_field="attributeName", value_field="attributeValue")


@blueprint.route("/bills/fetch")
class FetchBills(MethodView):
    @blueprint.arguments(s.SetuFetchBillsRequestSchema(), example=s.FETCH_BILLS_EXAMPLE)
    @blueprint.response(200, s.SetuFetchBillsResponseSchema)
    @_document_errors
    def post(self, body: dict[str, Any]) -> Any:
        """fetchCustomerBills: the customer's payable bills (AVAILABLE), or NO_OUTSTANDING."""
        note_read_only_request()
        found: CustomerBills = fetch_customer_bills(session=request_session(), identifiers=_resolve(body))
        data = render.fetch_bills_data(customer=found.customer, bills=found.bills, now=utcnow())
        status = data["billDetails"]["billFetchStatus"].lower()
        note_inbound_outcome(status, partner_ref=found.customer.lender_customer_id)
        return render_success(data)


# Setu's integration page shows "/bills/fetch/" once: answered like /bills/fetch, never redirected (a POST).
flask.Blueprint.add_url_rule(blueprint, "/bills/fetch/", view_func=FetchBills.as_view("fetch_bills_slash"))


@blueprint.route("/customer/validate")
class ValidateCustomer(MethodView):
    @blueprint.arguments(s.SetuValidateCustomerRequestSchema(), example=s.VALIDATE_CUSTOMER_EXAMPLE)
    @blueprint.response(200, s.SetuValidateCustomerResponseSchema)
    @_document_errors
    def post(self, body: dict[str, Any]) -> Any:
        """validateCustomer (validate and pay): the customer's ad-hoc payment account, when the lender enables it."""
        settings = get_settings().setu
        if not settings.validate_pay_enabled:
            abort(
                403,
                message="This biller does not take payments without a bill (validate and pay is not enabled).",
                error_code="request-not-authorised",
            )
        session = request_session()
        identifiers = _resolve(body)
        found = fetch_customer_bills(session=session, identifiers=identifiers)
        account = open_adhoc_account(
            session=session,
            channel=Channel.SETU,
            customer_id=found.customer.id,
            loan_account_number=identifiers.get("loan_account_number"),
            now=utcnow(),
        )
        commit_with_inbound_log(session, "validated", partner_ref=found.customer.lender_customer_id)
        return render_success(render.validate_customer_data(customer_name=found.customer.name, biller_bill_id=account))


@blueprint.route("/bills/fetchReceipt")
class FetchReceipt(MethodView):
    @blueprint.arguments(s.SetuFetchReceiptRequestSchema(), example=s.FETCH_RECEIPT_EXAMPLE)
    @blueprint.response(200, s.SetuFetchReceiptResponseSchema)
    @_document_errors
    def post(self, body: dict[str, Any]) -> Any:
        """fetchBillReceipt: record a payment BBPS has already taken, and its receipt (idempotent on
        uniquePaymentRefID: a retry gets the first receipt)."""
        settings = get_settings().setu
        details = body["paymentDetails"]
        reference = details["uniquePaymentRefID"]
        session = request_session()
        recorded = record_posted_payment(
            session=session,
            request=PaymentRequest(
                channel=Channel.SETU,
                partner_txn_ref=reference,
                partner_bill_id=body["billerBillID"],
                amount_paise=details["amountPaid"],
                declared_bill_amount_paise=details["billAmount"],
                partner_bill_ref=body["platformBillID"],
                customer_txn_ref=details["platformTransactionRefID"],
                paid_at=details["transactionTimestamp"],
                confirmation_payload={"setu_context": _setu_context(body)},
            ),
            adhoc_bill_name=settings.validate_pay_bill_name,
            confirm_with=settings.confirmed_by,
            now=utcnow(),
            max_due_multiple=get_settings().max_payment_multiple,
        )
        # The answer goes out only after the payment is committed (with its inbound log row): a success is never lost.
        commit_with_inbound_log(session, "receipt_replayed" if recorded.replayed else "receipt_issued", reference)
        return render_success(render.receipt_data(recorded.receipt))


def _setu_context(body: dict[str, Any]) -> dict[str, str]:
    """What Setu's payment status client asks with (docs/channels/setu.md, "Confirmation")."""
    details = body["paymentDetails"]
    return {
        "platformBillID": body["platformBillID"],
        "uniquePaymentRefID": details["uniquePaymentRefID"],
        "platformTransactionRefID": details["platformTransactionRefID"],
        "refId": s.ref_id_of(request.headers) or details["uniquePaymentRefID"],
    }


@blueprint.route("/notifications")
class Notifications(MethodView):
    @blueprint.arguments(s.SetuNotificationRequestSchema(), example=s.NOTIFICATION_EXAMPLE)
    @blueprint.response(200, s.SetuNotificationResponseSchema)
    @_document_errors
    def post(self, body: dict[str, Any]) -> Any:
        """notification: Setu's events (BILL_SETTLEMENT_STATUS), stored and applied before they are answered."""
        session = request_session()
        outcomes = receive_settlement_notification(
            session=session,
            channel=Channel.SETU,
            events=[_notice(event) for event in body["events"]],
            now=utcnow(),
        )
        first = body["events"][0]["id"]
        commit_with_inbound_log(session, f"events:{','.join(sorted(set(outcomes)))}"[:48], partner_ref=first)
        return render_success()


# The spec's tag text says "<Callback URL>/api/notifications"; its pages say "/notifications": both are served.
flask.Blueprint.add_url_rule(blueprint, "/api/notifications", view_func=Notifications.as_view("api_notifications"))


def _notice(event: dict[str, Any]) -> SettlementNotice:
    data = event["data"]
    settlement = event["type"] == s.SETTLEMENT_EVENT
    return SettlementNotice(
        event_id=event["id"],
        event_type=event["type"],
        occurred_at=event["timeStamp"],
        body=_as_sent(event),
        status=data["status"] if settlement else None,
        settlement_ref=data.get("transactionId") if settlement else None,
        amount_settled_paise=data["amountSettled"] if settlement else None,
        platform_bill_ids=data["platformBillIds"] if settlement else (),
    )


def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
    """The loaded event back in JSON terms (timeStamp in milliseconds, amounts in paise), for the record."""
    occurred: dt.datetime = event["timeStamp"]
    millis = (occurred - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    data = event["data"]
    if event["type"] == s.SETTLEMENT_EVENT:
        data = {**data, "amountSettled": {"value": data["amountSettled"], "currencyCode": s.INR}}
    return {"id": event["id"], "type": event["type"], "timeStamp": millis, "data": _json_terms(data)}


def _json_terms(value: Any) -> Any:
    # An event of another type keeps its data as sent; the exact parser gave its fractions as Decimal.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {key: _json_terms(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_terms(item) for item in value]
    return value
