"""Turn Kaleidofin's ``[{identifierKey, identifierValue}]`` into what each identifier means to this biller."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask_smorest import abort


def resolve_identifiers(items: Iterable[Mapping[str, str]], accepted: Mapping[str, str], limit: int) -> dict[str, str]:
    """Map each identifier to its meaning (customer_id, loan_account_number, mobile, name) by the configured keys.

    Keys match case-insensitively and values are trimmed. An unknown key, an empty value, too many identifiers or
    one meaning given two different values is refused: a guess here could show the wrong customer's bills.
    """
    items = list(items)
    if not items:
        abort(400, message="Give at least one customer identifier.", error_code="insufficient-customer-identifiers")
    if len(items) > limit:
        abort(400, message=f"At most {limit} identifiers are accepted.", error_code="invalid-param")
    resolved: dict[str, str] = {}
    for item in items:
        key, value = item["identifierKey"].strip(), item["identifierValue"].strip()
        meaning = accepted.get(key.lower())
        if meaning is None:
            known = ", ".join(sorted(accepted))
            abort(
                400,
                message=f"identifierKey {key!r} is not accepted by this biller (accepted: {known}).",
                error_code="invalid-param",
            )
        if not value:
            abort(400, message=f"identifierValue for {key!r} is empty.", error_code="invalid-param")
        if resolved.get(meaning, value) != value:
            abort(400, message=f"Two different values were given for {meaning}.", error_code="invalid-param")
        resolved[meaning] = value
    return resolved
