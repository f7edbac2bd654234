"""Money at the edges: partners speak rupees (text or JSON numbers), the books keep integer paise.

Every conversion goes through here, so there is one place that decides what an acceptable amount looks like.
"""

from __future__ import annotations

import decimal
import math
import re
from decimal import Decimal

# Rupees with at most two decimals, no sign, no exponent, no thousands separators. [0-9], not \d: only ASCII
# digits (\d, int() and Decimal() take Devanagari, Arabic-Indic or full-width digits too), matched whole.
_RUPEES_TEXT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?")
_TOO_MANY_DECIMALS = re.compile(r"[0-9]+\.[0-9]{3,}")
# Whole paise, as NPCI writes them: digits 0-9 only, no sign, no point.
_PAISE_TEXT = re.compile(r"[0-9]{1,15}")
MAX_PAISE = 10**15  # ten lakh crore rupees: far above any instalment, far below a BIGINT


class AmountError(ValueError):
    """An amount that is not a valid rupee amount (the message says why, in words an operator can act on)."""


def paise_from_rupees_text(text: str) -> int:
    """Parse ``"1250"`` or ``"1250.50"`` into paise; refuse anything else, including more than two decimals."""
    cleaned = text.strip()
    if not _RUPEES_TEXT.fullmatch(cleaned):
        if _TOO_MANY_DECIMALS.fullmatch(cleaned):
            raise AmountError(f"{text!r} has more than two decimals")
        raise AmountError(f"{text!r} is not an amount in rupees (digits 0-9, e.g. 1250 or 1250.50)")
    return int(Decimal(cleaned) * 100)


def paise_from_paise_text(text: str) -> int:
    """Parse whole paise written as text (``"100050"``, NPCI's convention); refuse anything else (a point, a sign)."""
    cleaned = text.strip()
    if not _PAISE_TEXT.fullmatch(cleaned):
        raise AmountError(f"{text!r} is not an amount in paise (whole paise, digits 0-9 only, e.g. 100050)")
    paise = int(cleaned)
    if paise >= MAX_PAISE:
        raise AmountError("amount is too large")
    return paise


# An amount as lenders' files write it: an optional currency mark (₹, Rs, Rs., INR), digits grouped the Indian
# way (1,23,456) or the international way (123,456) or not at all, at most two decimals, an optional "/-" after.
# [0-9], not \d: only ASCII digits (\d would take Devanagari or full-width digits too).
_FILE_AMOUNT = re.compile(
    r"(?:(?:₹|rs\.?|inr)\s*)?"
    r"(?P<whole>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,2}(?:,[0-9]{2})*,[0-9]{3})"
    r"(?P<fraction>\.[0-9]+)?"
    r"(?:\s*/-)?",
    re.IGNORECASE,
)
_EXCEL_DIGITS = 15  # Excel keeps and shows a number to 15 significant digits


def paise_from_file_amount(text: str) -> int:
    """Parse an amount as a lender's file writes it (``1,23,456.50``, ``₹ 2,450``, ``Rs. 2450/-``) into paise.

    For upload files only: partners' amounts go through the strict ``paise_from_rupees_text``. Exact: the digits
    are read as a Decimal, never a float; more than two decimals is refused, not rounded.
    """
    cleaned = text.strip()
    match = _FILE_AMOUNT.fullmatch(cleaned)
    if match is None:
        raise AmountError(f"{text!r} is not an amount in rupees (e.g. 2450, 2,450.50, 1,23,456.50 or Rs. 2450/-)")
    whole = match["whole"].replace(",", "")
    fraction = match["fraction"] or ""
    if len(fraction) > 3:
        raise AmountError(f"{text!r} has more than two decimals")
    if len(whole) > 13:
        raise AmountError(f"{text!r} is too large")
    return int(Decimal(whole + fraction) * 100)


def paise_from_spreadsheet_number(value: float | int) -> int:
    """Paise from a number cell of a spreadsheet, read as Excel shows it (15 significant digits), never rounded
    to the paisa: a cell holding 2450.505 is refused.

    A spreadsheet keeps numbers as binary floating point, so 2450.1 is held as 2450.09999999999990905... and a
    formula may leave 2450.1000000000004. The float's shortest decimal text (what ``repr`` gives) is that
    number exactly as Excel wrote it; failing two decimals there, the 15 significant digits Excel itself shows
    are used. No arithmetic is done on the float.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AmountError("is not a number")
    if isinstance(value, int):
        return paise_from_rupees(value)
    if not math.isfinite(value):
        raise AmountError("is not a finite number")
    amount = Decimal(repr(value))
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]  # finite: the exponent is an int
        amount = Decimal(f"{value:.{_EXCEL_DIGITS}g}")
    try:
        return paise_from_rupees(amount)
    except AmountError as exc:
        raise AmountError(f"{amount.normalize():f} {str(exc).removeprefix('amount ')}") from None


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
