"""Digiledge endpoints: parse, call one domain function, acknowledge with ``{reason, code, status}``.

The biller protocol's four requests (fetch, validation, payment, TxnStatus402) are acknowledged at once; their
real answers are queued in the same transaction and delivered to the BOU by the workers.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from biller_server.channels.digiledge import protocol
from biller_server.channels.digiledge import schemas as s
from biller_server.channels.digiledge.acks import acknowledge_notification
from biller_server.channels.digiledge.envelope import render_ack
from biller_server.channels.digiledge.schemas import AckSchema, PaymentNotificationSchema
from biller_server.domain.payments.notifications import NotificationReport, receive_payment_notification
from biller_server.extensions import get_settings, request_session
from biller_server.http.inbound_log import commit_with_inbound_log, note_inbound_outcome
from biller_server.http.parsing import ChannelBlueprint, parse_exact_json
from biller_server.persistence.models import Channel
from biller_server.persistence.types import json_safe, utcnow

blueprint = ChannelBlueprint(
    "digiledge",
    __name__,
    description="Digiledge biller protocol: payment notification, bill fetch, validation and payment.",
)

ACK_CODES = """Acknowledgement codes (also in docs/channels/digiledge.md):
200 ACCEPTED (verdict applied), 208 DUPLICATE (payment already has that status),
202 RECORDED (unknown refId, or contradicts a final status: held for reconciliation),
400 INVALID, 401 UNAUTHORISED, 403 FORBIDDEN, 413/415 INVALID, 500 ERROR, 503 TEMPORARILY_UNAVAILABLE.
An exact repeat of a notification gets the same acknowledgement as the first delivery."""


_document_errors = blueprint.document_errors(
    AckSchema, dict.fromkeys((400, 401, 403, 413, 415, 500, 503), "Refusal, in the acknowledgement shape.")
)


@blueprint.route("/payment-notification")
class PaymentNotification(MethodView):
    @blueprint.arguments(
        # Instances, here and on every channel: webargs makes a new schema from a class (and a new nested one for
        # each Nested field) for every request.
        PaymentNotificationSchema(),
        example={
            "refId": "HENSVVR4QOS7X1UGPY7JGUV444P10102202",
            "status": "Successful",
            "reason": "",
            "ack": {
                "api": "PAYMENT_RESPONSE",
                "refId": "HENSVVR4QOS7X1UGPY7JGUV444P10102202",
                "msgId": "8ENSVVR4QOS7X1UGPY7JGUV444P10102202",
                "rspCd": "000",
                "ts": "2026-11-23T10:15:00+05:30",
                "errorMessages": [],
            },
        },
    )
    @blueprint.response(200, AckSchema, description=ACK_CODES)
    @_document_errors
    def post(self, body: dict[str, Any]) -> Any:
        """Receive NPCI's verdict on a payment and apply it (stored before the answer, applied once)."""
        session = request_session()
        received = receive_payment_notification(
            session=session,
            report=NotificationReport(
                channel=Channel.DIGILEDGE,
                ref_id=body["refId"],
                reported_status=body["status"],
                reason=body["reason"] or None,
                msg_id=body["ack"]["msgId"],
                ack_ref_id=body["ack"]["refId"],
                reason_codes=[
                    {key: value for key, value in item.items() if value is not None}
                    for item in body["ack"]["errorMessages"]
                    if item.get("errorCd") or item.get("errorDtl")
                ],
                # The body exactly as received (exact numbers, every field), for the record and the fingerprint.
                body=json_safe(parse_exact_json(request.get_data(cache=True))),
            ),
            acknowledge=acknowledge_notification,
            now=utcnow(),
        )
        ack = received.ack
        # The acknowledgement goes out only after the notification is stored (with its inbound log row).
        commit_with_inbound_log(session, f"notification_{ack.status.lower()}", partner_ref=body["refId"])
        return render_ack(code=ack.code, status=ack.status, reason=ack.reason)


PROTOCOL_ACK_CODES = """Acknowledgement codes (also in docs/channels/digiledge.md):
200 ACCEPTED (the answer is queued for the BOU; a refused payment too, its answer is a Failure),
409 CONFLICT (this refId was already answered for a different request: nothing queued),
400 INVALID (malformed, or another billerId), 401 UNAUTHORISED, 403 FORBIDDEN, 413/415 INVALID, 500 ERROR,
503 TEMPORARILY_UNAVAILABLE. A repeat of a request (same refId) queues nothing and gets the first acknowledgement."""

PROTOCOL_ERRORS = {
    400: (
        "Malformed body, a missing or mistyped field, a billerId that is not this biller's, or (TxnStatus402) no "
        "tenantId anywhere to answer with."
    ),
    401: "Missing or invalid credentials.",
    403: "Source address not allowed.",
    409: "The refId was already answered for a different request; the first answer stands.",
    413: "Body larger than the configured limit.",
    415: "Body is not JSON.",
    500: "Unexpected fault (details only in the log).",
    503: "Temporarily unavailable (database); retry.",
}

EXAMPLE_REF_ID = "HENSVVR4QOS7X1UGPY7JGUV444P10102202"
EXAMPLE_PARAMS = [{"name": "Loan Account Number", "value": "LAN00000001"}]


def _document_protocol_errors(view: Any) -> Any:
    for status, description in PROTOCOL_ERRORS.items():
        view = blueprint.alt_response(status, schema=AckSchema, description=description)(view)
    return view


def _terms() -> protocol.ProtocolTerms:
    settings = get_settings()
    return protocol.ProtocolTerms(
        customer_params=settings.digiledge.identifier_keys,
        biller_id=settings.digiledge_biller_id,
        tenant_id=settings.digiledge.tenant_id,
        confirm_with=settings.digiledge.confirmed_by,
        amount_unit=settings.digiledge.amount_unit,
        max_due_multiple=settings.max_payment_multiple,
    )


def _params(items: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((item["name"], item["value"]) for item in items)


def _acknowledge(answer: protocol.Acknowledged, kind: str, ref_id: str) -> Any:
    note_inbound_outcome(f"{kind}_{'repeated' if answer.repeated else 'queued'}", partner_ref=ref_id)
    return render_ack(code=answer.ack.code, status=answer.ack.status, reason=answer.ack.reason)


@blueprint.route("/fetch")
class BillFetch(MethodView):
    @blueprint.arguments(
        s.BillFetchRequestSchema(),
        example={
            "refId": EXAMPLE_REF_ID,
            "billerId": "LENDER000NAT01",
            "tenantId": "DGLG",
            "customerParams": EXAMPLE_PARAMS,
        },
    )
    @blueprint.response(200, AckSchema, description=PROTOCOL_ACK_CODES)
    @_document_protocol_errors
    def post(self, body: dict[str, Any]) -> Any:
        """Acknowledge a bill fetch; the customer's earliest-due bill (or a Failure) follows at /BillFetchResponse."""
        session = request_session()
        answer = protocol.receive_bill_fetch(
            session=session,
            request=protocol.BillFetchRequest(
                ref_id=body["refId"],
                biller_id=body["billerId"],
                tenant_id=body["tenantId"],
                customer_params=_params(body["customerParams"]),
            ),
            terms=_terms(),
            now=utcnow(),
        )
        session.commit()  # the acknowledgement goes out only after its response is queued for good
        return _acknowledge(answer, "fetch", body["refId"])


@blueprint.route("/validation")
class BillValidation(MethodView):
    @blueprint.arguments(
        s.BillValidationRequestSchema(),
        example={
            "refId": EXAMPLE_REF_ID,
            "billerId": "LENDER000NAT01",
            "customerParams": EXAMPLE_PARAMS,
            "tenantId": "DGLG",
        },
    )
    @blueprint.response(200, AckSchema, description=PROTOCOL_ACK_CODES)
    @_document_protocol_errors
    def post(self, body: dict[str, Any]) -> Any:
        """Acknowledge a bill validation; the result follows at /BillValidationResponse."""
        session = request_session()
        answer = protocol.receive_bill_validation(
            session=session,
            request=protocol.BillValidationRequest(
                ref_id=body["refId"],
                biller_id=body["billerId"],
                tenant_id=body["tenantId"],
                customer_params=_params(body["customerParams"]),
            ),
            terms=_terms(),
            now=utcnow(),
        )
        session.commit()
        return _acknowledge(answer, "validation", body["refId"])


@blueprint.route("/payment")
class BillPayment(MethodView):
    @blueprint.arguments(
        s.BillPaymentRequestSchema(),
        example={
            "refId": EXAMPLE_REF_ID,
            "txn": {"txnReferenceId": "CC014110BAAA00036525", "ts": "2026-11-23T10:15:00+05:30", "type": "FORWARD"},
            "billerId": "LENDER000NAT01",
            "customerParams": EXAMPLE_PARAMS,
            "additionalInfo": [{"name": "Instalments Due", "value": "1"}],
            "paymentMethod": {"quickPay": "No", "splitPay": "No", "offusPay": "Yes", "paymentMode": "Internet Banking"},
            "amount": {
                "amt": {"amount": "1000.00", "custConvFee": "0", "currency": "INR"},
                "splitPayAmount": "0",
                "tags": [],
            },
            "billerResponse": {
                "customerName": "Asha Verma",
                "amount": "1000.00",
                "dueDate": "2026-11-15",
                "custConvFee": "0",
                "billDate": "2026-11-01",
                "billNumber": "BILL-000001",
                "billPeriod": "November instalment",
                "tags": [{"name": "BASE_BILL_AMOUNT", "value": "1000.00"}],
            },
        },
    )
    @blueprint.response(200, AckSchema, description=PROTOCOL_ACK_CODES)
    @_document_protocol_errors
    def post(self, body: dict[str, Any]) -> Any:
        """Record a bill payment and acknowledge it; the result (receipt or Failure) follows at /BillPaymentResponse."""
        biller_response = body["billerResponse"] or {}
        session = request_session()
        answer = protocol.receive_bill_payment(
            session=session,
            request=protocol.BillPaymentRequest(
                ref_id=body["refId"],
                txn_reference_id=body["txn"]["txnReferenceId"],
                txn_type=body["txn"]["type"],
                biller_id=body["billerId"],
                tenant_id=body["tenantId"],
                customer_params=_params(body["customerParams"]),
                amount_paise=body["amount"]["amt"]["amount"],
                bill_number=biller_response.get("billNumber"),
                declared_bill_amount_paise=biller_response.get("amount"),
            ),
            terms=_terms(),
            now=utcnow(),
        )
        # The payment and its response are committed before the acknowledgement: an ACCEPTED is never lost.
        session.commit()
        return _acknowledge(answer, "payment", body["refId"])


@blueprint.route("/TxnStatus402")
class TxnStatus402(MethodView):
    @blueprint.arguments(
        s.TxnStatusRequestSchema(),
        example={
            "refId": EXAMPLE_REF_ID,
            "txn": {"ts": "2026-11-23T11:00:00+05:30", "xchange": "402"},
            "txnStatusReq": {"msgId": "MSG8ENSVVR4QOS7X1UGPY7JGUV444P1010", "txnReferenceId": "CC014110BAAA00036525"},
        },
    )
    @blueprint.response(200, AckSchema, description=PROTOCOL_ACK_CODES)
    @_document_protocol_errors
    def post(self, body: dict[str, Any]) -> Any:
        """Acknowledge a transaction status request (402); the payment's status follows at /TxnStatusResponse."""
        session = request_session()
        answer = protocol.receive_txn_status(
            session=session,
            request=protocol.TxnStatusRequest(
                ref_id=body["refId"],
                msg_id=body["txnStatusReq"]["msgId"],
                txn_reference_id=body["txnStatusReq"]["txnReferenceId"],
                tenant_id=body["tenantId"],
            ),
            terms=_terms(),
            now=utcnow(),
        )
        session.commit()
        return _acknowledge(answer, "status", body["refId"])
