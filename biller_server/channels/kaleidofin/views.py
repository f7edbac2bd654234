"""POST /bills/fetchBills and POST /bills/fetchReceipt: parse, call one domain function, render."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from biller_server.channels.kaleidofin import schemas as s
from biller_server.channels.kaleidofin.envelope import render_success
from biller_server.channels.setu.envelope import refuse_identifiers
from biller_server.domain.billing.exactness import payable_range
from biller_server.domain.billing.fetch import CustomerBills, fetch_customer_bills
from biller_server.domain.billing.identifiers import IdentifiersRefused, resolve_identifiers
from biller_server.domain.money import rupees_json
from biller_server.domain.payments.recording import PaymentRequest, RecordedPayment, record_payment
from biller_server.extensions import get_settings, request_session
from biller_server.http.inbound_log import commit_with_inbound_log, note_inbound_outcome, note_read_only_request
from biller_server.http.parsing import ChannelBlueprint
from biller_server.persistence.models import AmountExactness, Bill, Channel
from biller_server.persistence.types import utcnow

blueprint = ChannelBlueprint(
    "kaleidofin",
    __name__,
    description="Kaleidofin collection API: bill fetch and payment acknowledgement (receipt).",
)

ERROR_RESPONSES = {
    400: "Refused: malformed body, invalid parameter, customer or bill not found, bill not payable, wrong amount.",
    401: "Missing or invalid credentials.",
    403: "Source address not allowed.",
    409: "The transactionId was already used with a different amount or bill.",
    413: "Body larger than the configured limit.",
    415: "Body is not JSON.",
    503: "Temporarily unavailable (database); retry.",
}


_document_errors = blueprint.document_errors(s.ErrorResponseSchema, ERROR_RESPONSES)


@blueprint.route("/fetchBills")
class FetchBills(MethodView):
    @blueprint.arguments(
        s.BillIdentifierSchema(many=True),
        example=[
            {"identifierKey": "name", "identifierValue": "vishakha"},
            {"identifierKey": "customerId", "identifierValue": "AY1234"},
        ],
    )
    @blueprint.response(200, s.FetchBillsResponseSchema)
    @blueprint.doc(
        requestBody={
            "content": {
                "application/json": {
                    # At most BILLER_KALEIDOFIN_MAX_IDENTIFIERS (10 by default) identifiers are accepted.
                    "schema": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 10,
                        "items": {
                            "type": "object",
                            "required": ["identifierKey", "identifierValue"],
                            "properties": {
                                "identifierKey": {"type": "string", "minLength": 1, "maxLength": 50},
                                "identifierValue": {"type": "string", "minLength": 1, "maxLength": 100},
                            },
                        },
                    }
                }
            }
        }
    )
    @_document_errors
    def post(self, items: list[dict[str, str]]) -> Any:
        """Fetch a customer's payable bills by the identifiers the customer entered."""
        settings = get_settings()
        note_read_only_request()
        try:
            identifiers = resolve_identifiers(
                [(item["identifierKey"], item["identifierValue"]) for item in items],
                settings.kaleidofin.identifier_keys,
                limit=settings.kaleidofin.max_identifiers,
            )
        except IdentifiersRefused as refused:
            refuse_identifiers(refused, name_field="identifierKey", value_field="identifierValue")
        found = fetch_customer_bills(session=request_session(), identifiers=identifiers)
        status = "AVAILABLE" if found.bills else "NO_OUTSTANDING"
        note_inbound_outcome(status.lower(), partner_ref=found.customer.lender_customer_id)
        return render_success(_fetch_bills_data(found, status))


@blueprint.route("/fetchReceipt")
class FetchReceipt(MethodView):
    @blueprint.arguments(
        s.FetchReceiptRequestSchema(),
        example={
            "systemBillId": 14,
            "partnerBillId": "SAMPLE_ID",
            "paymentDetails": {"billAmount": 1000, "amountPaid": 1000, "transactionId": "20201223246869"},
        },
    )
    @blueprint.response(200, s.FetchReceiptResponseSchema)
    @_document_errors
    def post(self, body: dict[str, Any]) -> Any:
        """Record a customer's payment against a bill and issue its receipt (idempotent on transactionId)."""
        details = body["paymentDetails"]
        settings = get_settings()
        session = request_session()
        recorded = record_payment(
            session=session,
            request=PaymentRequest(
                channel=Channel.KALEIDOFIN,
                partner_txn_ref=details["transactionId"],
                partner_bill_id=body["partnerBillId"],
                amount_paise=details["amountPaid"],
                declared_bill_amount_paise=details["billAmount"],
                partner_bill_ref=body["systemBillId"],
            ),
            confirm_with=settings.kaleidofin.confirmed_by,
            now=utcnow(),
            max_due_multiple=settings.max_payment_multiple,
        )
        # The answer goes out only after the payment is committed (with its inbound log row): a success is never lost.
        commit_with_inbound_log(
            session, "receipt_replayed" if recorded.replayed else "receipt_issued", partner_ref=details["transactionId"]
        )
        return render_success(_receipt_data(recorded))


def _fetch_bills_data(found: CustomerBills, status: str) -> dict[str, Any]:
    customer = found.customer
    return {
        "billFetchStatus": status,
        "customerBills": {"bills": [_bill(bill) for bill in found.bills]},
        "customer": {
            "info": {"name": customer.name, "phoneNumber": customer.mobile, "consumerId": customer.lender_customer_id},
            "name": customer.name,
        },
    }


def _bill(bill: Bill) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "billName": bill.name,
        "billAmount": rupees_json(bill.balance_paise),
        "partnerBillId": bill.partner_bill_id,
        "dueDate": bill.due_date.isoformat(),
        "generatedDate": bill.generated_date.isoformat(),
        "amountExactness": bill.exactness.value,
    }
    if bill.exactness is AmountExactness.RANGE:
        allowed = payable_range(bill)
        rendered["minAmount"] = rupees_json(allowed.minimum)
        rendered["maxAmount"] = rupees_json(allowed.maximum or allowed.minimum)
    return rendered


def _receipt_data(recorded: RecordedPayment) -> dict[str, Any]:
    issued = recorded.receipt.issued_at
    return {"receipt": {"date": issued.strftime("%Y-%m-%dT%H:%M:%SZ"), "id": recorded.receipt.receipt_number}}
