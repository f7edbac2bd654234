"""Setu's BillCollect bodies, field for field as setu-billcollect-openapi.json defines them (Swagger 2.0
``definitions``: billerFetchBillsRequest, billerValidateCustomerRequest, fetchReceiptRequest, notificationRequest).

Requests are loaded strictly: an amount is ``{value, currencyCode}`` with ``value`` a JSON integer of paise, a
reference must look like one, and fields Setu may add later are ignored. The response schemas describe, for the
OpenAPI document, what ``render.py`` sends: the fields of Setu's definitions that we fill, its required ones
included. Every reading of ours where Setu's pages are silent is in docs/channels/setu.md.

Schema names carry ``Setu``: OpenAPI component names are global, and Kaleidofin already has a ``Bill``,
a ``Receipt`` and a ``FetchReceiptRequest`` of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from biller_server.domain.money import MAX_PAISE

INR = "INR"
SETTLEMENT_EVENT = "BILL_SETTLEMENT_STATUS"
AVAILABLE = "AVAILABLE"
NO_OUTSTANDING = "NO_OUTSTANDING"
AMOUNT_EXACTNESS = ("ANY", "EXACT", "EXACT_UP", "EXACT_DOWN", "RANGE")
RECURRENCE = (
    "ONE_TIME",
    "DAILY",
    "WEEKLY",
    "FORTNIGHTLY",
    "MONTHLY",
    "QUARTERLY",
    "HALF_YEARLY",
    "YEARLY",
    "AS_PRESENTED",
)
# The Bridge takes up to 4 identifiers per biller; a body with more than this is not Setu's.
MAX_IDENTIFIERS = 10
TRANSACTION_NOTE_MAX_LENGTH = 80  # fetchReceiptRequest.paymentDetails.transactionNote, maxLength in Setu's spec

# Setu's own references (platformBillID, uniquePaymentRefID, event ids...) are printable ASCII without spaces.
_REFERENCE = re.compile(r"[!-~]+")
# The same rule as a JSON Schema (ECMA-262) pattern, for the OpenAPI document only; loading uses re.fullmatch.
_REFERENCE_DOC_PATTERN = "^[!-~]+$"
# Setu's timestamps: "2020-05-22T03:05:22.000Z". Fractions and the zone are optional (the spec says "in UTC").
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
# Milliseconds since the epoch before the year 10000: what a datetime can hold.
_MAX_EPOCH_MILLIS = 253_402_300_799_999


def refuse_non_ascii_digits(text: str) -> None:
    """Refuse digits other than 0-9: Arabic-Indic "١٢٣", Devanagari "१२३", fullwidth ones and the like.

    Python's ``int()`` and ``\\d`` read them as numbers, so an identifier or a reference written with them could
    be taken for another one. One small function, so that the rule can be made global in one place.
    """
    if text.isascii():
        return
    for character in text:
        if character.isdigit():
            raise ValidationError(f"Only the digits 0-9 are accepted, not {character!r}.")


def _reference_form(text: str) -> None:
    if not _REFERENCE.fullmatch(text):
        raise ValidationError("Must be printable ASCII without spaces.")


def _text(max_length: int, *, reference: bool = False, allow_empty: bool = False, **kwargs: Any) -> fields.String:
    """A JSON string of 1 (0 with ``allow_empty``) to ``max_length`` characters, digits 0-9 only.

    ``reference``: one of Setu's identifiers, which are printable ASCII without spaces.
    """
    validators: list[Any] = [validate.Length(min=0 if allow_empty else 1, max=max_length), refuse_non_ascii_digits]
    metadata = dict(kwargs.pop("metadata", {}))
    if reference:
        validators.append(_reference_form)
        metadata.setdefault("pattern", _REFERENCE_DOC_PATTERN)
    return fields.String(validate=validators, metadata=metadata, **kwargs)


def _free_text(max_length: int, **kwargs: Any) -> fields.String:
    """Words for people (a note, an instrument's name): only the length is checked, and null means absent."""
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(max=max_length), **kwargs)


class Paise(fields.Field):
    """An amount's ``value``: a JSON integer of paise, 0 or more (``minimum=1``: more than zero).

    Refused: a number with a decimal point or an exponent (``1000.0``, ``1e3``, ``1e309``: a JSON number that is
    not an integer arrives as a Decimal and is never rounded), a string, a boolean, a negative amount, and
    anything from ten lakh crore rupees up.
    """

    def __init__(self, *, minimum: int = 0, **kwargs: Any) -> None:
        metadata = {
            "type": "integer",
            "format": "int64",
            "minimum": minimum,
            "maximum": MAX_PAISE - 1,
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)
        self.minimum = minimum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(
                "Must be a JSON integer of paise (100000 is 1000 rupees), without a decimal point or quotes."
            )
        if value < self.minimum:
            raise ValidationError("Must not be negative." if self.minimum == 0 else "Must be more than zero.")
        if value >= MAX_PAISE:
            raise ValidationError("Is larger than any amount this biller accepts.")
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class CurrencyCode(fields.Field):
    """ISO 4217, and only INR: BBPS moves rupees. Setu's fetchReceipt example sends ``""`` and the field is
    optional in its spec, so ``""``, null and an absent code all mean INR; any other code is refused."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "enum": [INR, ""], **kwargs.pop("metadata", {})}
        super().__init__(load_default=INR, allow_none=True, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if value == "" or value == INR:
            return INR
        raise ValidationError('Must be "INR": BBPS amounts are in rupees ("" and null are read as INR).')

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class SetuTimestamp(fields.Field):
    """Setu's ``YYYY-MM-DDTHH:mm:ss.mmmZ``, loaded as an aware UTC datetime.

    A fraction of up to 9 digits and a ``±HH:MM`` offset are accepted too; no zone means UTC, as the spec says.
    ``""`` and null mean absent: Setu sends ``""`` for the text fields it leaves empty.
    """

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "format": "date-time", **kwargs.pop("metadata", {})}
        super().__init__(load_default=None, allow_none=True, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime | None:
        if value == "":
            return None
        match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise ValidationError("Must be a UTC timestamp such as 2020-05-22T03:05:22.000Z.")
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            zone_info = dt.UTC if zone in (None, "Z") else _offset(zone)
            moment = dt.datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                int((fraction or "0")[:6].ljust(6, "0")),
                tzinfo=zone_info,
            ).astimezone(dt.UTC)
        except (ValueError, OverflowError):
            # OverflowError: a moment that exists in its zone but not in UTC (0001-01-01T00:00:00+01:00).
            raise ValidationError("Is not a real date and time.") from None
        return moment

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _offset(zone: str) -> dt.timezone:
    sign = -1 if zone[0] == "-" else 1
    return dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))


class EpochMillis(fields.Field):
    """An event's ``timeStamp``: milliseconds since the Unix epoch as a JSON integer, loaded as a UTC datetime."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "integer", "format": "int64", "minimum": 0, "maximum": _MAX_EPOCH_MILLIS}
        super().__init__(metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_EPOCH_MILLIS:
            raise ValidationError("Must be a JSON integer: milliseconds since the Unix epoch.")
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class _SetuSchema(Schema):
    class Meta:
        unknown = EXCLUDE


# Amounts (definitions/amount).


class SetuAmountSchema(_SetuSchema):
    """``{"value": <paise>, "currencyCode": "INR"}``, loaded as integer paise (0 or more)."""

    value = Paise(required=True, metadata={"example": 100000})
    currencyCode = CurrencyCode(metadata={"example": INR})

    @post_load
    def _to_paise(self, amount: dict[str, Any], **_: Any) -> int:
        return amount["value"]


class SetuPaidAmountSchema(SetuAmountSchema):
    """An amount paid: at least one paisa."""

    value = Paise(required=True, minimum=1, metadata={"example": 100000})


# Requests.


class SetuCustomerIdentifierSchema(_SetuSchema):
    attributeName = _text(50, required=True, metadata={"example": "customerId"})
    attributeValue = _text(
        100,
        required=True,
        allow_empty=True,
        metadata={
            "example": "9117534711",
            "description": "As the customer entered it. Empty: an optional identifier left blank (skipped).",
        },
    )


class SetuFetchBillsRequestSchema(_SetuSchema):
    """billerFetchBillsRequest (also billerValidateCustomerRequest, which has the same one field)."""

    customerIdentifiers = fields.List(
        fields.Nested(SetuCustomerIdentifierSchema),
        required=True,
        validate=validate.Length(max=MAX_IDENTIFIERS),
    )


class SetuValidateCustomerRequestSchema(SetuFetchBillsRequestSchema):
    """billerValidateCustomerRequest."""


def _object_or_list(value: Any) -> None:
    # additionalInfo is an object in Setu's spec, a list of one-key objects in its validate-and-pay example, and
    # null in its fetch-and-pay example. It is kept as sent and never interpreted.
    if not isinstance(value, dict | list):
        raise ValidationError("Must be an object, a list or null.")


class SetuPaymentDetailsSchema(_SetuSchema):
    amountPaid = fields.Nested(SetuPaidAmountSchema, required=True)
    # The bill's amount when the customer fetched it; absent for validate-and-pay billers (setu-validate-pay.mdx).
    billAmount = fields.Nested(SetuAmountSchema, load_default=None, allow_none=True)
    platformTransactionRefID = _text(
        100, reference=True, required=True, metadata={"example": "26602931-3b6a-4c87-a14d-5d7cf584008f"}
    )
    # Optional in Setu's spec, required here: the pages make it the key that a retried posting is recognised by.
    uniquePaymentRefID = _text(100, reference=True, required=True, metadata={"example": "PP012151MYB616O9BSY1"})
    instrument = _free_text(50, metadata={"example": "UPI"})
    additionalInfo = fields.Raw(
        load_default=None, allow_none=True, validate=_object_or_list, metadata={"type": "object", "nullable": True}
    )
    transactionNote = _free_text(TRANSACTION_NOTE_MAX_LENGTH, metadata={"example": "Payment for loan 123"})
    transactionTimestamp = SetuTimestamp(metadata={"example": "2020-05-22T03:05:22.000Z"})
    campaignID = _text(100, allow_empty=True, load_default=None, allow_none=True, metadata={"example": ""})


class SetuFetchReceiptRequestSchema(_SetuSchema):
    """fetchReceiptRequest: Setu posts a payment that BBPS has already taken from the customer."""

    platformBillID = _text(64, reference=True, required=True, metadata={"example": "906910589572351478"})
    # Our own bill id, echoed back (or, for validate-and-pay, the id our validation answer gave).
    billerBillID = _text(64, required=True, metadata={"example": "891234567"})
    paymentDetails = fields.Nested(SetuPaymentDetailsSchema, required=True)


class SetuPartnerDetailsSchema(_SetuSchema):
    appID = _text(100, required=True, metadata={"example": "string"})
    productInstanceID = _text(100, required=True, metadata={"example": "string"})


class SetuSettlementDataSchema(_SetuSchema):
    """A BILL_SETTLEMENT_STATUS event's ``data`` (setu-notifications.mdx; the spec leaves ``data`` open)."""

    amountSettled = fields.Nested(SetuAmountSchema, required=True)
    platformBillIds = fields.List(
        _text(64, reference=True), required=True, validate=validate.Length(min=1), metadata={"example": ["1"]}
    )
    status = _text(50, required=True, metadata={"example": "SETTLEMENT_SUCCESSFUL"})
    transactionId = _text(
        100, reference=True, load_default=None, allow_none=True, metadata={"example": "1074362738220"}
    )


class SetuEventSchema(_SetuSchema):
    """eventDetails. A settlement event's ``data`` is loaded by SetuSettlementDataSchema; another type's is kept
    as sent (Setu documents no other type yet)."""

    id = _text(100, reference=True, required=True, metadata={"example": "f3b41c8f-72fc-485d-b39a-cf497787a039"})
    type = _text(50, required=True, metadata={"example": SETTLEMENT_EVENT})
    timeStamp = EpochMillis(required=True, metadata={"example": 1594293083984})
    data = fields.Dict(required=True)

    @post_load
    def _load_settlement(self, event: dict[str, Any], **_: Any) -> dict[str, Any]:
        if event["type"] == SETTLEMENT_EVENT:
            try:
                event["data"] = SetuSettlementDataSchema().load(event["data"])
            except ValidationError as exc:
                raise ValidationError({"data": exc.messages}) from None
        return event


class SetuNotificationRequestSchema(_SetuSchema):
    """notificationRequest, posted to ``<callbackURL>/notifications``."""

    partnerDetails = fields.Nested(SetuPartnerDetailsSchema, required=True)
    events = fields.List(fields.Nested(SetuEventSchema), required=True, validate=validate.Length(min=1))


def ref_id_of(headers: Any) -> str | None:
    """The optional ``ref_id`` header (NPCI's BBPS reference id), when it is 1 to 35 letters and digits.

    Anything else is ignored rather than refused: the header is informative, and a payment must not be refused
    for it. (gunicorn drops header names with an underscore by default: docs/channels/setu.md, "ref_id".)
    """
    value = headers.get("ref_id")
    if isinstance(value, str) and value.isascii() and value.isalnum() and len(value) <= 35:
        return value
    return None


# Examples for the OpenAPI document: Setu's own, from its pages (tests/fakes/setu_payloads.py has them verbatim
# and a test checks that these are the same bodies).

FETCH_BILLS_EXAMPLE = {"customerIdentifiers": [{"attributeName": "customerId", "attributeValue": "9117534711"}]}
VALIDATE_CUSTOMER_EXAMPLE = FETCH_BILLS_EXAMPLE
FETCH_RECEIPT_EXAMPLE = {
    "platformBillID": "906910589572351478",
    "billerBillID": "891234567",
    "paymentDetails": {
        "amountPaid": {"value": 1000, "currencyCode": ""},
        "billAmount": {"value": 1000, "currencyCode": ""},
        "platformTransactionRefID": "26602931-3b6a-4c87-a14d-5d7cf584008f",
        "uniquePaymentRefID": "PP012151MYB616O9BSY1",
        "instrument": "UPI",
        "additionalInfo": None,
        "transactionNote": "",
        "transactionTimestamp": "2020-05-22T03:05:22.000Z",
        "campaignID": "",
    },
}
NOTIFICATION_EXAMPLE = {
    "partnerDetails": {"appID": "string", "productInstanceID": "string"},
    "events": [
        {
            "id": "f3b41c8f-72fc-485d-b39a-cf497787a039",
            "type": "BILL_SETTLEMENT_STATUS",
            "timeStamp": 1594293083984,
            "data": {
                "amountSettled": {"currencyCode": "INR", "value": 108400},
                "platformBillIds": ["platformBillId1", "platformBillId2"],
                "status": "SETTLEMENT_SUCCESSFUL",
                "transactionId": "1074362738220",
            },
        }
    ],
}


# Responses (documentation only: render.py builds the bodies, envelope.py wraps them).


class SetuBaseResponseSchema(Schema):
    status = fields.Integer(required=True, metadata={"example": 200, "description": "The HTTP status, repeated."})
    success = fields.Boolean(required=True, metadata={"example": True})


class SetuAmountObjectSchema(Schema):
    displayName = fields.String(required=True, metadata={"example": "November instalment"})
    amount = fields.Nested(SetuAmountSchema, required=True)


class SetuBillAggregatesSchema(Schema):
    total = fields.Nested(SetuAmountObjectSchema, required=True, metadata={"description": "What is due now."})


class SetuFeeAggregatesSchema(Schema):
    total = fields.Nested(SetuAmountSchema, required=True)


class SetuFeeSchema(Schema):
    displayName = fields.String(required=True, metadata={"example": "Platform fee"})
    aggregates = fields.Nested(SetuFeeAggregatesSchema, required=True)


class SetuCustomerAccountSchema(Schema):
    id = fields.String(
        required=True, metadata={"description": "The bill's loan account number, else the lender's customer id."}
    )


class SetuAmountValidationSchema(Schema):
    minimum = fields.Integer(metadata={"description": "Least amount accepted, paise."})
    maximum = fields.Integer(metadata={"description": "Most amount accepted, paise (absent: no upper bound)."})


class SetuValidationRulesSchema(Schema):
    amount = fields.Nested(SetuAmountValidationSchema)


class SetuBillSchema(Schema):
    billerBillID = fields.String(required=True, metadata={"example": "891234567"})
    customerAccount = fields.Nested(SetuCustomerAccountSchema, required=True)
    amountExactness = fields.String(required=True, validate=validate.OneOf(AMOUNT_EXACTNESS))
    recurrence = fields.String(required=True, validate=validate.OneOf(RECURRENCE), metadata={"example": "ONE_TIME"})
    generatedOn = fields.String(required=True, metadata={"format": "date-time", "example": "2026-10-31T18:30:00.000Z"})
    dueDate = fields.String(metadata={"format": "date-time", "example": "2026-11-15T18:29:59.999Z"})
    aggregates = fields.Nested(SetuBillAggregatesSchema, required=True)
    platformFee = fields.Nested(SetuFeeSchema, required=True, metadata={"description": "Always zero: none is charged."})
    validationRules = fields.Nested(SetuValidationRulesSchema, metadata={"description": "RANGE, EXACT_UP, EXACT_DOWN."})


class SetuCustomerSchema(Schema):
    name = fields.String(required=True, metadata={"example": "Sharmaji Ka Beta"})
    additionalInfo = fields.Dict(metadata={"description": "Shown in the payer's app."})


class SetuBillDetailsSchema(Schema):
    billFetchStatus = fields.String(required=True, validate=validate.OneOf([AVAILABLE, NO_OUTSTANDING]))
    bills = fields.List(fields.Nested(SetuBillSchema), required=True)


class SetuFetchBillsDataSchema(Schema):
    customer = fields.Nested(SetuCustomerSchema, required=True)
    billDetails = fields.Nested(SetuBillDetailsSchema, required=True)


class SetuFetchBillsResponseSchema(SetuBaseResponseSchema):
    data = fields.Nested(SetuFetchBillsDataSchema, required=True)


class SetuValidateCustomerDataSchema(Schema):
    customer = fields.Nested(SetuCustomerSchema, required=True)
    billerBillID = fields.String(
        required=True, metadata={"description": "The customer's account for ad-hoc payments; Setu sends it back."}
    )
    additionalInfo = fields.Dict()


class SetuValidateCustomerResponseSchema(SetuBaseResponseSchema):
    data = fields.Nested(SetuValidateCustomerDataSchema, required=True)


class SetuReceiptSchema(Schema):
    id = fields.String(required=True, metadata={"example": "R0000000042"})
    date = fields.String(required=True, metadata={"format": "date-time", "example": "2026-11-02T10:00:00.000Z"})


class SetuReceiptDataSchema(Schema):
    receipt = fields.Nested(SetuReceiptSchema, required=True)


class SetuFetchReceiptResponseSchema(SetuBaseResponseSchema):
    data = fields.Nested(SetuReceiptDataSchema, required=True)


class SetuNotificationResponseSchema(SetuBaseResponseSchema):
    """baseResponse alone: ``{"status": 200, "success": true}``."""


# errorResponse, which Kaleidofin's refusals use too.


class ErrorItemSchema(Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    detail = fields.String(required=True)
    docURL = fields.String(required=True)


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "customer-not-found"})
    title = fields.String(required=True)
    detail = fields.String(required=True)
    docURL = fields.String(required=True)
    traceID = fields.String(required=True)
    errors = fields.List(fields.Nested(ErrorItemSchema), required=True)


class ErrorResponseSchema(Schema):
    status = fields.Integer(required=True, metadata={"description": "The HTTP status, repeated."})
    success = fields.Boolean(required=True, metadata={"example": False})
    error = fields.Nested(ErrorBodySchema, required=True)
