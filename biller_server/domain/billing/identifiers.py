"""The identifiers a customer gives to find its bills, read by one rule for every channel.

Each channel names the pairs its own way (Kaleidofin's ``identifierKey``/``identifierValue``, Digiledge's
``customerParams`` ``name``/``value``) and is configured with the names it accepts and what each one means
(``BILLER_<CHANNEL>_IDENTIFIER_KEYS``; Digiledge's ``BILLER_DIGILEDGE_CUSTOMER_PARAMS``). A refusal says what was
wrong (``IdentifierProblem``); each channel words it in its partner's error shape.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from biller_server.domain.errors import InsufficientIdentifiers


class IdentifierProblem(enum.Enum):
    NONE_GIVEN = "none_given"
    TOO_MANY = "too_many"
    UNKNOWN_NAME = "unknown_name"
    EMPTY_VALUE = "empty_value"
    TWO_VALUES = "two_values"


class IdentifiersRefused(InsufficientIdentifiers):
    """The identifiers cannot name a customer safely; the fields say why, for the channel to word it."""

    def __init__(
        self,
        problem: IdentifierProblem,
        *,
        name: str = "",
        meaning: str = "",
        limit: int = 0,
        accepted: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"identifiers refused: {problem.value} {name or meaning or limit or ''}".rstrip())
        self.problem = problem
        self.name = name  # the refused name, trimmed, as the partner sent it
        self.meaning = meaning  # the meaning given two values
        self.limit = limit
        self.accepted = accepted  # the accepted names, in the form they are compared in


def identifier_name(name: str, *, ignore_spaces: bool) -> str:
    """The form names are compared in: case never matters, and spaces do not either where the channel says so."""
    return "".join(name.split()).lower() if ignore_spaces else name.lower()


def resolve_identifiers(
    pairs: Iterable[tuple[str, str]], accepted: Mapping[str, str], *, limit: int, ignore_spaces: bool = False
) -> dict[str, str]:
    """Map each ``(name, value)`` to its meaning (customer_id, loan_account_number, mobile, name) by the accepted names.

    Names are trimmed and match ignoring case (and spaces, with ``ignore_spaces``: NPCI registers names such as
    "Loan Account Number"); values are trimmed. No pair, too many, an unknown name, an empty value or one meaning
    given two different values is refused: a guess here could show or pay the wrong customer's bill.
    """
    pairs = list(pairs)
    if not pairs:
        raise IdentifiersRefused(IdentifierProblem.NONE_GIVEN)
    if len(pairs) > limit:
        raise IdentifiersRefused(IdentifierProblem.TOO_MANY, limit=limit)
    meanings = {identifier_name(key, ignore_spaces=ignore_spaces): meaning for key, meaning in accepted.items()}
    resolved: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = raw_name.strip(), raw_value.strip()
        meaning = meanings.get(identifier_name(name, ignore_spaces=ignore_spaces))
        if meaning is None:
            raise IdentifiersRefused(IdentifierProblem.UNKNOWN_NAME, name=name, accepted=tuple(sorted(meanings)))
        if not value:
            raise IdentifiersRefused(IdentifierProblem.EMPTY_VALUE, name=name)
        if resolved.get(meaning, value) != value:
            raise IdentifiersRefused(IdentifierProblem.TWO_VALUES, meaning=meaning)
        resolved[meaning] = value
    return resolved
