"""Digiledge endpoints: parse, call one domain function, acknowledge with ``{reason, code, status}``."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from biller_server.channels.digiledge import blueprint
from biller_server.channels.digiledge.envelope import render_ack
from biller_server.channels.digiledge.schemas import AckSchema, PaymentNotificationSchema
from biller_server.domain.notifications import NotificationReport, receive_payment_notification
from biller_server.extensions import request_session
from biller_server.http.channels import note_inbound_outcome
from biller_server.http.parsing import parse_exact_json
from biller_server.persistence.models import Channel
from biller_server.persistence.types import json_safe, utcnow

ACK_CODES = """Acknowledgement codes (also in docs/channels/digiledge.md):
200 ACCEPTED (verdict applied), 208 DUPLICATE (payment already has that status),
202 RECORDED (unknown refId, or contradicts a final status: held for reconciliation),
400 INVALID, 401 UNAUTHORISED, 403 FORBIDDEN, 413/415 INVALID, 500 ERROR, 503 TEMPORARILY_UNAVAILABLE.
An exact repeat of a notification gets the same acknowledgement as the first delivery."""


def _document_errors(view: Any) -> Any:
    for status in (400, 401, 403, 413, 415, 500, 503):
        view = blueprint.alt_response(status, schema=AckSchema, description="Refusal, in the acknowledgement shape.")(
            view
        )
    return view


@blueprint.route("/payment-notification")
class PaymentNotification(MethodView):
    @blueprint.arguments(
        PaymentNotificationSchema,
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
        ack = receive_payment_notification(
            session=session,
            report=NotificationReport(
                channel=Channel.DIGILEDGE,
                ref_id=body["refId"],
                reported_status=body["status"],
                reason=body["reason"] or None,
                msg_id=body["ack"]["msgId"],
                reason_codes=[
                    {key: value for key, value in item.items() if value is not None}
                    for item in body["ack"]["errorMessages"]
                    if item.get("errorCd") or item.get("errorDtl")
                ],
                # The body exactly as received (exact numbers, every field), for the record and the fingerprint.
                body=json_safe(parse_exact_json(request.get_data(cache=True))),
            ),
            now=utcnow(),
        )
        session.commit()  # the acknowledgement goes out only after the notification is stored
        note_inbound_outcome(f"notification_{ack.status.lower()}", partner_ref=body["refId"])
        return render_ack(code=ack.code, status=ack.status, reason=ack.reason)
