"""What the console's forms and search boxes accept, checked with marshmallow before any view uses a value.

A field sent twice, a NUL character or text over its length is refused with a message, never half-used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from biller_server.domain.billing.bills import CLOSE_REASON_LENGTH
from biller_server.domain.lookup import MAX_REFERENCE_LENGTH
from biller_server.domain.staff.accounts import PASSWORD_MAX_LENGTH
from biller_server.domain.staff.audit import MAX_NOTE_LENGTH


class FormError(ValueError):
    """What is wrong with a form, in one line for the page."""


def _no_nul(text: str) -> None:
    if "\x00" in text:
        raise ValidationError("must not contain a NUL character")


class _Form(Schema):
    class Meta:
        unknown = EXCLUDE  # the form token and the submit button's name


class SignInForm(_Form):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    password = fields.String(required=True, validate=[validate.Length(min=1, max=PASSWORD_MAX_LENGTH), _no_nul])
    next = fields.String(load_default=None, validate=[validate.Length(max=300), _no_nul])


class FindForm(_Form):
    q = fields.String(load_default="", validate=[validate.Length(max=MAX_REFERENCE_LENGTH), _no_nul])
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=90))


class CancelBillForm(_Form):
    partner_bill_id = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    note = fields.String(
        required=True,
        validate=[
            validate.Length(min=3, max=MAX_NOTE_LENGTH, error="a note of 3 to {max} characters is required"),
            _no_nul,
        ],
    )


class CloseBillForm(_Form):
    partner_bill_id = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    reason = fields.String(
        required=True,
        validate=[
            validate.Length(
                min=3, max=CLOSE_REASON_LENGTH, error="a reason of 3 to {max} characters is required (e.g. foreclosed)"
            ),
            _no_nul,
        ],
    )


def _note() -> fields.String:
    """A person's note on an action: required, 3 characters at least (the audit log keeps it)."""
    return fields.String(
        required=True,
        error_messages={"required": f"a note of 3 to {MAX_NOTE_LENGTH} characters is required"},
        validate=[
            validate.Length(min=3, max=MAX_NOTE_LENGTH, error="a note of 3 to {max} characters is required"),
            _no_nul,
        ],
    )


# Ids the books can hold (PostgreSQL's integer): a larger one names nothing and must not reach the database.
_ID = validate.Range(min=1, max=2**31 - 1, error="not an id")


class ResolveForm(_Form):
    """A person's verdict on a payment (`payments resolve`): the note is required, the evidence optional, and an
    override of a final outcome only when its box is ticked."""

    decision = fields.String(
        required=True, validate=validate.OneOf(["confirmed", "failed"], error="choose confirmed or failed")
    )
    note = _note()
    evidence = fields.String(load_default=None, validate=[validate.Length(max=200), _no_nul])
    override = fields.String(load_default=None, validate=validate.OneOf(["yes"]))


class MatchForm(_Form):
    payment_id = fields.Integer(
        required=True, strict=False, validate=_ID, error_messages={"invalid": "a payment number is required"}
    )
    note = _note()


class NoteForm(_Form):
    """Dismiss a held notification: why it needs nothing done."""

    note = _note()


class AckForm(_Form):
    key = fields.String(required=True, validate=[validate.Length(min=3, max=200), _no_nul])
    note = _note()
    date = fields.Date(load_default=None)


class UploadForm(_Form):
    """The upload's options, as `bills upload` takes them: a sheet, the date order, OURS=THEIRS column names."""

    sheet = fields.String(load_default=None, validate=[validate.Length(max=100), _no_nul])
    date_order = fields.String(load_default="dmy", validate=validate.OneOf(["dmy", "mdy"]))
    columns = fields.String(load_default="", validate=[validate.Length(max=4000), _no_nul])


class ReportDayForm(_Form):
    date = fields.Date(load_default=None)


def parse(form: type[Schema], source: MultiDict[str, str]) -> dict[str, Any]:
    """The fields of ``source`` (a request's form or query string) as ``form`` reads them; FormError if not."""
    repeated = sorted(key for key in source if len(source.getlist(key)) > 1)
    if repeated:
        raise FormError(f"{repeated[0]}: sent more than once")
    values: Mapping[str, str] = {key: value.strip() if key != "password" else value for key, value in source.items()}
    try:
        return form().load(values)
    except ValidationError as exc:
        field, messages = next(iter(sorted(exc.normalized_messages().items())))
        message = messages[0] if isinstance(messages, list) else str(messages)
        raise FormError(f"{field}: {message}") from None
