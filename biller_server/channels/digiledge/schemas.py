"""Digiledge's bodies, field for field as its pages show them (docs/channels/digiledge.md lists our readings)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from biller_server.channels.digiledge.messages import digiledge_amount_paise
from biller_server.channels.setu.schemas import refuse_non_ascii_digits  # every channel's digit rule
from biller_server.domain.money import AmountError
from biller_server.extensions import get_settings


def _text(max_length: int = 100, **kwargs: Any) -> fields.String:
    """An identifier or a code (refIds, billerId, customerParams, msgId...): digits 0-9 only, as for every channel."""
    return fields.String(validate=[validate.Length(min=1, max=max_length), refuse_non_ascii_digits], **kwargs)


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
    refId = fields.String(load_default=None, validate=refuse_non_ascii_digits)
    msgId = _text(required=True)
    rspCd = fields.String(required=True, validate=[validate.Length(max=20), refuse_non_ascii_digits])
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


# The biller protocol's requests (fetch, validation, payment, TxnStatus402). Unknown fields are ignored, and the
# published pages' slips are tolerated: a key spelled "billerId:" (colon inside the quotes), "refID", and
# customerParams given as the table's ``{"tags": ...}`` object rather than the example's list.

_REF_ID = re.compile(r"[A-Za-z0-9]{1,35}")
# The same rule as a JSON Schema (ECMA-262) pattern, for the OpenAPI document only: loading uses re.fullmatch, since
# "$" (and marshmallow's Regexp, which only matches a prefix) lets a final newline through: "NL1\n" would become
# part of a job's dedupe key.
_REF_ID_DOC_PATTERN = "^[A-Za-z0-9]{1,35}$"


def _ref_id_form(value: str) -> None:
    if not _REF_ID.fullmatch(value):
        raise ValidationError("Must be 1 to 35 of A-Z, a-z, 0-9.")


def _ref_id() -> fields.String:
    return fields.String(
        required=True,
        validate=_ref_id_form,
        metadata={"pattern": _REF_ID_DOC_PATTERN, "example": "HENSVVR4QOS7X1UGPY7JGUV444P10102202"},
    )


class DigiledgeAmount(fields.Field):
    """A Digiledge amount, loaded as integer paise: rupees as text ("1000" or "1000.50"), or whole paise ("100050")
    with ``BILLER_DIGILEDGE_AMOUNT_UNIT=paise`` (``biller_server.channels.digiledge.messages.digiledge_amount_paise``).
    More than two decimals (rupees), a point (paise), a sign or an exponent is refused."""

    def __init__(self, *, positive: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.positive = positive

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        unit = get_settings().digiledge.amount_unit
        try:
            paise = digiledge_amount_paise(value, unit)
        except AmountError as exc:
            raise ValidationError(f"Not a valid amount in {unit.value}: {exc}.") from None
        if self.positive and paise <= 0:
            raise ValidationError("Must be more than zero.")
        return paise

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class NameValueSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = _text(required=True, metadata={"example": "Loan Account Number"})
    value = fields.String(
        required=True, validate=[validate.Length(max=100), refuse_non_ascii_digits], metadata={"example": "LAN00000001"}
    )


class LooseNameValueSchema(Schema):
    """additionalInfo and tags: copied back to us as-is and not interpreted, so only their shape is checked."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(load_default=None, allow_none=True)
    value = fields.String(load_default=None, allow_none=True)


def _customer_params(**kwargs: Any) -> fields.List:
    return fields.List(fields.Nested(NameValueSchema), validate=validate.Length(max=50), **kwargs)


def _tolerate_published_slips(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for slip, key in (("billerId:", "billerId"), ("refID", "refId")):
        if slip in data and key not in data:
            data[key] = data.pop(slip)
    params = data.get("customerParams")
    if isinstance(params, dict):
        tags = params.get("tags", params)
        data["customerParams"] = tags if isinstance(tags, list) else [tags]
    return data


class _ProtocolRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _tolerate_slips(self, data: Any, **_: Any) -> Any:
        return _tolerate_published_slips(data)


class BillFetchRequestSchema(_ProtocolRequestSchema):
    refId = _ref_id()
    billerId = _text(50, required=True, metadata={"example": "LENDER000NAT01"})
    tenantId = _text(10, load_default=None, metadata={"description": "OU id of the BOU (4 characters)."})
    customerParams = _customer_params(required=True)


class BillValidationRequestSchema(BillFetchRequestSchema):
    pass


class PaymentTxnSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    txnReferenceId = _text(required=True, metadata={"example": "CC014110BAAA00036525"})
    ts = fields.String(load_default=None, metadata={"example": "2026-11-23T10:15:00+05:30"})
    type = fields.String(load_default=None, metadata={"description": "Forward or reversal.", "example": "FORWARD"})


class AmtSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    amount = DigiledgeAmount(required=True, metadata={"type": "string", "example": "1000.00"})
    custConvFee = fields.Raw(load_default=None, metadata={"description": "Not the biller's: not interpreted."})
    currency = fields.Raw(load_default=None, metadata={"example": "INR"})


class PaymentAmountSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    amt = fields.Nested(AmtSchema, required=True)
    splitPayAmount = fields.Raw(load_default=None)
    tags = fields.List(fields.Nested(LooseNameValueSchema), load_default=list)


class PaymentMethodSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    quickPay = fields.Raw(load_default=None)
    splitPay = fields.Raw(load_default=None)
    offusPay = fields.Raw(load_default=None)
    paymentMode = fields.Raw(load_default=None, metadata={"example": "Internet Banking"})


class BillerResponseSchema(Schema):
    """The biller's own BillFetchResponse, copied into the payment by NPCI."""

    class Meta:
        unknown = EXCLUDE

    customerName = fields.String(load_default=None, allow_none=True)
    amount = DigiledgeAmount(load_default=None, allow_none=True, metadata={"type": "string", "example": "1000.00"})
    dueDate = fields.String(load_default=None, allow_none=True)
    custConvFee = fields.Raw(load_default=None)
    billDate = fields.String(load_default=None, allow_none=True)
    billNumber = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=64), refuse_non_ascii_digits],
        metadata={"example": "BILL-1"},
    )
    billPeriod = fields.String(load_default=None, allow_none=True)
    tags = fields.List(fields.Nested(LooseNameValueSchema), load_default=list)


class BillPaymentRequestSchema(_ProtocolRequestSchema):
    refId = _ref_id()
    txn = fields.Nested(PaymentTxnSchema, required=True)
    billerId = _text(50, required=True, metadata={"example": "LENDER000NAT01"})
    tenantId = _text(10, load_default=None)
    customerParams = _customer_params(required=True)
    additionalInfo = fields.List(fields.Nested(LooseNameValueSchema), load_default=list)
    paymentMethod = fields.Nested(PaymentMethodSchema, load_default=None)
    amount = fields.Nested(PaymentAmountSchema, required=True)
    billerResponse = fields.Nested(BillerResponseSchema, load_default=None)


class TxnStatusTxnSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    ts = fields.String(load_default=None, metadata={"example": "2026-11-23T11:00:00+05:30"})
    xchange = fields.String(load_default=None, metadata={"example": "402"})


class TxnStatusReqSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    # NPCI's msgId is 35 characters; 50 leaves room and keeps the delivery's dedupe key within its column.
    msgId = _text(50, load_default=None, metadata={"example": "MSG8ENSVVR4QOS7X1UGPY7JGUV444P1010"})
    txnReferenceId = _text(required=True, metadata={"example": "CC014110BAAA00036525"})


class TxnStatusRequestSchema(_ProtocolRequestSchema):
    refId = _ref_id()
    txn = fields.Nested(TxnStatusTxnSchema, load_default=None)
    txnStatusReq = fields.Nested(TxnStatusReqSchema, required=True)
    tenantId = _text(10, load_default=None)

    @pre_load
    def _nest_dotted_names(self, data: Any, **_: Any) -> Any:
        # The page's table names the fields "txn.ts", "txnStatusReq.txnReferenceId": read such flat keys as nested.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for dotted in [key for key in data if isinstance(key, str) and "." in key]:
            parent, child = dotted.split(".", 1)
            if parent in ("txn", "txnStatusReq") and (data.get(parent) is None or isinstance(data[parent], dict)):
                data[parent] = {**(data.get(parent) or {}), child: data.pop(dotted)}
        return data
