"""Kaleidofin's request and response bodies, field for field as its collection API page shows them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

# Kaleidofin's refusals are Setu's errorResponse (envelope.py): Setu's schema documents them. Its digit rule is
# every channel's: identifiers take the digits 0-9 only (int() and \d would read other scripts' digits as them).
from biller_server.channels.setu.schemas import ErrorResponseSchema as ErrorResponseSchema
from biller_server.channels.setu.schemas import refuse_non_ascii_digits
from biller_server.domain.money import AmountError, paise_from_rupees


class RupeeAmount(fields.Field):
    """A JSON number of rupees (at most two decimals, more than zero), loaded as integer paise.

    Strings, booleans, NaN and numbers with more than two decimals are refused: an amount is never guessed.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise ValidationError("Must be a JSON number of rupees, e.g. 1000 or 1000.50.")
        try:
            paise = paise_from_rupees(value)
        except AmountError as exc:
            raise ValidationError(f"Not a valid amount: {exc}.") from None
        if paise <= 0:
            raise ValidationError("Must be more than zero.")
        return paise

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class Reference(fields.Field):
    """An identifier that partners send as a JSON string or integer; kept as a string."""

    def __init__(self, *, max_length: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("Must be a string or an integer.")
        text = str(value).strip()
        if not text or len(text) > self.max_length:
            raise ValidationError(f"Must be 1 to {self.max_length} characters.")
        refuse_non_ascii_digits(text)
        return text

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _text(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(
        required=True, validate=[validate.Length(min=1, max=max_length), refuse_non_ascii_digits], **kwargs
    )


class BillIdentifierSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    identifierKey = _text(50, metadata={"example": "customerId"})
    identifierValue = _text(100, metadata={"example": "AY1234"})


class PaymentDetailsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    billAmount = RupeeAmount(required=True, metadata={"type": "number", "example": 1000})
    amountPaid = RupeeAmount(required=True, metadata={"type": "number", "example": 1000})
    transactionId = Reference(required=True, metadata={"type": "string", "example": "20201223246869"})


class FetchReceiptRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    systemBillId = Reference(required=True, max_length=64, metadata={"type": "integer", "example": 14})
    partnerBillId = Reference(required=True, max_length=64, metadata={"type": "string", "example": "SAMPLE_ID"})
    paymentDetails = fields.Nested(PaymentDetailsSchema, required=True)


# Responses (documentation only: views render the envelopes themselves).


class BillSchema(Schema):
    billName = fields.String(required=True)
    billAmount = fields.Float(required=True, metadata={"description": "Amount still due, in rupees."})
    partnerBillId = fields.String(required=True)
    dueDate = fields.Date(required=True)
    generatedDate = fields.Date(required=True)
    amountExactness = fields.String(
        required=True, validate=validate.OneOf(["EXACT", "EXACT_UP", "EXACT_DOWN", "ANY", "RANGE"])
    )
    minAmount = fields.Float(metadata={"description": "RANGE bills only: least amount accepted, rupees."})
    maxAmount = fields.Float(metadata={"description": "RANGE bills only: most amount accepted, rupees."})


class CustomerBillsSchema(Schema):
    bills = fields.List(fields.Nested(BillSchema), required=True)


class CustomerInfoSchema(Schema):
    name = fields.String(required=True)
    phoneNumber = fields.String(allow_none=True)
    consumerId = fields.String(required=True)


class CustomerSchema(Schema):
    info = fields.Nested(CustomerInfoSchema, required=True)
    name = fields.String(required=True)


class FetchBillsDataSchema(Schema):
    billFetchStatus = fields.String(required=True, validate=validate.OneOf(["AVAILABLE", "NO_OUTSTANDING"]))
    customerBills = fields.Nested(CustomerBillsSchema, required=True)
    customer = fields.Nested(CustomerSchema, required=True)


class FetchBillsResponseSchema(Schema):
    data = fields.Nested(FetchBillsDataSchema, required=True)
    status = fields.Integer(required=True, metadata={"example": 0})
    success = fields.Boolean(required=True, metadata={"example": True})


class ReceiptSchema(Schema):
    date = fields.String(required=True, metadata={"example": "2020-08-31T06:06:55Z"})
    id = fields.String(required=True, metadata={"example": "R0123"})


class ReceiptDataSchema(Schema):
    receipt = fields.Nested(ReceiptSchema, required=True)


class FetchReceiptResponseSchema(Schema):
    data = fields.Nested(ReceiptDataSchema, required=True)
    status = fields.Integer(required=True)
    success = fields.Boolean(required=True)
