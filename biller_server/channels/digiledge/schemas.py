"""Digiledge's bodies, field for field as its pages show them (docs/channels/digiledge.md lists our readings)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate


def _text(max_length: int = 100, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class ErrorMessageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    errorCd = fields.String(load_default=None)
    errorDtl = fields.String(load_default=None)


class NotificationAckSchema(Schema):
    """NPCI's acknowledgement carried inside the notification."""

    class Meta:
        unknown = EXCLUDE

    api = fields.String(load_default=None, metadata={"example": "PAYMENT_RESPONSE"})
    refId = fields.String(load_default=None)
    msgId = _text(required=True)
    rspCd = fields.String(required=True, validate=validate.Length(max=20))
    ts = fields.String(required=True, validate=validate.Length(max=40))
    errorMessages = fields.List(fields.Nested(ErrorMessageSchema), load_default=list)

    @pre_load
    def _tolerate_published_variants(self, data: Any, **_: Any) -> Any:
        # The page's table spells the key "refid" and types errorMessages as an object; its example uses "refId"
        # and a list. Accept both readings.
        if isinstance(data, dict):
            data = dict(data)
            if "refid" in data and "refId" not in data:
                data["refId"] = data.pop("refid")
            if isinstance(data.get("errorMessages"), dict):
                data["errorMessages"] = [data["errorMessages"]]
        return data


class PaymentNotificationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    refId = _text(required=True, metadata={"example": "HENSVVR4QOS7X1UGPY7JGUV444P10102202"})
    status = _text(required=True, metadata={"description": "Successful or Failure", "example": "Successful"})
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    ack = fields.Nested(NotificationAckSchema, required=True)


class AckSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=100))
    code = fields.Integer(required=True, validate=validate.Range(min=100, max=999))
    status = fields.String(required=True, validate=validate.Length(min=1, max=100))
