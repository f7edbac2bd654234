"""Money at the edges: partners speak rupees (text or JSON numbers), the books keep integer paise.

Every conversion goes through here, so there is one place that decides what an acceptable amount looks like.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

# Rupees with at most two decimals, no sign, no exponent, no thousands separators.
_RUPEES_TEXT = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
MAX_PAISE = 10**15  # ten lakh crore rupees: far above any instalment, far below a BIGINT


class AmountError(ValueError):
    """An amount that is not a valid rupee amount (the message says why, in words an operator can act on)."""


def paise_from_rupees_text(text: str) -> int:
    """Parse ``"1250"`` or ``"1250.50"`` into paise; refuse anything else, including more than two decimals."""
    cleaned = text.strip()
    if not _RUPEES_TEXT.match(cleaned):
        if re.match(r"^\d+\.\d{3,}$", cleaned):
            raise AmountError(f"{text!r} has more than two decimals")
        raise AmountError(f"{text!r} is not an amount in rupees (e.g. 1250 or 1250.50)")
    return int(Decimal(cleaned) * 100)


def paise_from_rupees(value: Decimal | int) -> int:
    """Convert an exact rupee amount (a JSON number parsed as Decimal, or an int) into paise."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise AmountError("amount must be a number")
    amount = Decimal(value)
    if not amount.is_finite():
        raise AmountError("amount must be a finite number")
    # Checked before any arithmetic: 1e999999999 would overflow the decimal context itself, and 1e-999999999
    # would quietly round to zero.
    if amount and amount.adjusted() > 15:
        raise AmountError("amount is too large")
    if amount and amount.adjusted() < -2:
        raise AmountError("amount has more than two decimals")
    try:
        paise = amount * 100
        if paise != paise.to_integral_value():
            raise AmountError("amount has more than two decimals")
    except decimal.DecimalException:
        raise AmountError("amount is not a valid number") from None
    if abs(paise) >= MAX_PAISE:
        raise AmountError("amount is too large")
    return int(paise)


def rupees_json(paise: int) -> int | float:
    """Render paise as a JSON number of rupees: ``100000`` -> ``1000``, ``100050`` -> ``1000.5``.

    A float is used only as the carrier to the JSON text: Python writes the shortest text that reads back as the
    same float, so any amount of at most 15 significant digits comes out exactly as its decimal (a test checks).
    """
    if paise % 100 == 0:
        return paise // 100
    return float(Decimal(paise) / 100)


def rupees_text(paise: int) -> str:
    """Paise as rupees text with two decimals, for files and reports: ``100050`` -> ``"1000.50"``."""
    sign = "-" if paise < 0 else ""
    whole, fraction = divmod(abs(paise), 100)
    return f"{sign}{whole}.{fraction:02d}"


def rupees_indian(paise: int) -> str:
    """Paise as rupees grouped the Indian way, for people: ``12345650`` -> ``"1,23,456.50"``."""
    sign = "-" if paise < 0 else ""
    whole, fraction = divmod(abs(paise), 100)
    digits = str(whole)
    if len(digits) > 3:
        head, tail = digits[:-3], digits[-3:]
        pairs = []
        while len(head) > 2:
            head, pair = head[:-2], head[-2:]
            pairs.insert(0, pair)
        digits = ",".join([head, *pairs, tail])
    return f"{sign}{digits}.{fraction:02d}"
