"""How lenders write a bill upload file: column names as people spell them, dates, mobiles, spreadsheet cells.

Each reader here takes one value and returns the value the books keep, or raises ``Refused`` with the reason in
words an operator can act on, so that the row checker can gather every problem of a row before it decides.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DateOrder = Literal["dmy", "mdy"]

# The accepted spellings of each column, as people write them; matching ignores case, spaces and punctuation
# ("Loan A/c No", "LOAN_AC_NO" and "loan ac no" are one spelling). The first is the template's own name.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer_id", "Customer ID", "Cust ID", "Customer No", "Customer Number", "Customer Code", "Client ID",
        "Borrower ID", "Member ID", "CIF", "CIF ID", "CIF No",
    ),
    "customer_name": (
        "customer_name", "Customer Name", "Cust Name", "Name", "Borrower Name", "Client Name", "Member Name",
    ),
    "mobile": (
        "mobile", "Mobile No", "Mobile Number", "Phone", "Phone No", "Phone Number", "Contact No", "Contact Number",
        "Registered Mobile", "Registered Mobile No",
    ),
    "loan_account_number": (
        "loan_account_number", "Loan Account No", "Loan A/c No", "Loan A/c Number", "Loan No", "Loan Number",
        "Loan ID", "LAN", "Account Number", "Account No", "A/c No",
    ),
    "partner_bill_id": (
        "partner_bill_id", "Bill ID", "Bill No", "Bill Number", "Instalment ID", "Installment ID", "EMI ID",
        "Demand ID",
    ),
    "bill_name": (
        "bill_name", "Bill Description", "Description", "Instalment Name", "Installment Name", "Particulars",
    ),
    "amount": (
        "amount", "Amount Due", "Due Amount", "Due Amt", "Bill Amount", "Bill Amt", "EMI Amount", "EMI Amt", "EMI",
        "Instalment Amount", "Installment Amount", "Demand Amount",
    ),
    "due_date": (
        "due_date", "Due On", "EMI Date", "EMI Due Date", "Instalment Due Date", "Installment Due Date",
    ),
    "generated_date": (
        "generated_date", "Generated On", "Bill Date", "Bill Generated Date", "Demand Date", "Issue Date",
    ),
    "amount_exactness": ("amount_exactness", "Exactness", "Payment Exactness"),
    "min_amount": ("min_amount", "Minimum Amount", "Min Amt"),
    "max_amount": ("max_amount", "Maximum Amount", "Max Amt"),
}  # fmt: skip

_NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")


def column_key(name: str) -> str:
    """A column name reduced to what people mean by it: ``Loan A/c No`` -> ``loanacno``."""
    return _NOT_ALPHANUMERIC.sub("", name.casefold())


# The columns every bill upload file must have (``reader`` checks each; the header search stops once it finds them).
REQUIRED_COLUMNS = (
    "customer_id",
    "customer_name",
    "mobile",
    "loan_account_number",
    "partner_bill_id",
    "bill_name",
    "amount",
    "due_date",
    "generated_date",
    "amount_exactness",
)


class Vocabulary:
    """The columns of one kind of file (a bill upload, a bank statement, a settlement report): each one's accepted
    spellings and the ones it must have. The readers (CSV, workbook) find the header and match it through it."""

    def __init__(self, spellings: Mapping[str, tuple[str, ...]], required: Sequence[str], *, row_noun: str) -> None:
        self.spellings = dict(spellings)
        self.required = tuple(required)
        self.row_noun = row_noun  # "one bill per line"
        self.known = {column_key(spelling): column for column, names in spellings.items() for spelling in names}


BILLS = Vocabulary(SPELLINGS, REQUIRED_COLUMNS, row_noun="bill")
_KNOWN = BILLS.known


class Refused(ValueError):
    """A value that cannot be read as what its column holds; the message says why."""


class ColumnMapError(ValueError):
    """A --column mapping or a --columns file that cannot be used (the message says why, in one line)."""


def parse_column_mapping(text: str, *, where: str = "--column", vocabulary: Vocabulary = BILLS) -> tuple[str, str]:
    """``ours=theirs`` -> (our column, the file's header name)."""
    ours, separator, theirs = text.partition("=")
    ours, theirs = ours.strip(), theirs.strip()
    if not separator or not ours or not theirs:
        raise ColumnMapError(f"{where}: {text!r} is not OURS=THEIRS (e.g. amount=EMI Amt)")
    if ours not in vocabulary.spellings:
        raise ColumnMapError(f"{where}: {ours!r} is not one of our columns ({', '.join(vocabulary.spellings)})")
    return ours, theirs


def read_column_map(path: Path, *, vocabulary: Vocabulary = BILLS) -> dict[str, str]:
    """A --columns file: one ``ours=theirs`` a line; blank lines and lines starting with # are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ColumnMapError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ColumnMapError(f"{path.name} is not UTF-8 text") from None
    mapping: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        ours, theirs = parse_column_mapping(line, where=f"{path.name}, line {number}", vocabulary=vocabulary)
        if ours in mapping:
            raise ColumnMapError(f"{path.name}, line {number}: {ours} is mapped twice")
        mapping[ours] = theirs
    return mapping


@dataclass
class ColumnMatch:
    """Where each of our columns is in the file's header, and the file's columns that the upload ignores."""

    positions: dict[str, int]
    ignored: list[str] = field(default_factory=list)


def match_columns(
    header: Sequence[str], mapping: Mapping[str, str], *, required: Sequence[str], vocabulary: Vocabulary = BILLS
) -> ColumnMatch:
    """Match a file's header to our columns: the explicit ``mapping`` first, then the accepted spellings.

    Raises ValueError with one line for a missing required column, a mapped column that is not in the file, or
    two file columns that both read as the same one of ours.
    """
    keys = [column_key(name) for name in header]
    positions: dict[str, int] = {}
    taken: set[int] = set()
    for ours, theirs in mapping.items():
        wanted = column_key(theirs)
        found = [position for position, key in enumerate(keys) if key == wanted and key]
        if not found:
            raise ValueError(f"--column {ours}={theirs}: the file has no column {theirs!r}")
        if len(found) > 1:
            raise ValueError(f"--column {ours}={theirs}: the file has {len(found)} columns named {theirs!r}")
        positions[ours] = found[0]
        taken.add(found[0])
    candidates: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        ours = vocabulary.known.get(key)
        if ours is not None and ours not in positions and position not in taken:
            candidates.setdefault(ours, []).append(position)
    for ours, found in candidates.items():
        if len(found) > 1:
            names = " and ".join(repr(header[position].strip()) for position in found)
            raise ValueError(f"columns {names} both read as {ours}: say which one with --column {ours}=NAME")
        positions[ours] = found[0]
    missing = [name for name in required if name not in positions]
    if missing:
        raise ValueError(
            f"no column for {', '.join(missing)} (accepted names: "
            + "; ".join(f"{name}: {', '.join(vocabulary.spellings[name][1:4])}..." for name in missing)
            + "); or name it with --column OURS=THEIRS"
        )
    used = set(positions.values())
    ignored = [name.strip() or f"column {position + 1} (no name)" for position, name in enumerate(header)]
    return ColumnMatch(positions, [ignored[position] for position in range(len(header)) if position not in used])


def header_score(header: Sequence[str], vocabulary: Vocabulary = BILLS) -> int:
    """How many cells of a row read as one of our columns (the header is the first row with the most)."""
    known = vocabulary.known
    return len({known[key] for key in map(column_key, header) if key in known})


# Dates. Numeric forms are read day-first (the Indian reading) unless --date-order mdy; a date that does not
# exist in the chosen order is refused, never read the other way round.
_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_NUMERIC = re.compile(r"([0-9]{1,2})([/.-])([0-9]{1,2})\2([0-9]{2,4})")
_NAMED = re.compile(r"([0-9]{1,2})[-/ ]([A-Za-z]{3,9})\.?[-/ ,]+([0-9]{2,4})")
# A time after the date (loan systems export date-times), dropped: a due date is a day.
_TIME = re.compile(r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?: ?[AaPp][Mm])?)?")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_ORDER_TEXT = {"dmy": "DD/MM/YYYY", "mdy": "MM/DD/YYYY"}
# Excel's day 0 in its 1900 date system (it counts a 29 February 1900 that never was, hence the 30th).
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_SERIALS = range(32874, 73051)  # 1990-01-01 .. 2099-12-31: a plausible due or bill date


def parse_date(text: str, order: DateOrder, *, short_years: bool = False) -> dt.date:
    """A date as lenders write it (``2026-12-05``, ``05/12/2026``, ``05-12-2026``, ``05-Dec-2026``), or why not.

    ``short_years``: a two-digit year is this century's (``28/11/26``), as banks' statement exports write it; a
    bill file must write the year in full (a due date read a century off is worse than a refused row)."""
    for pattern in (_ISO, _NUMERIC, _NAMED):
        match = pattern.match(text)
        if match is None or not _TIME.fullmatch(text, match.end()):
            continue
        if pattern is _ISO:
            year, month, day = int(match[1]), int(match[2]), int(match[3])
            shape = "YYYY-MM-DD"
        elif pattern is _NUMERIC:
            first, second, year_text = match[1], match[3], match[4]
            day, month = (int(first), int(second)) if order == "dmy" else (int(second), int(first))
            if len(year_text) != 4 and not (short_years and len(year_text) == 2):
                raise Refused(f"{text!r}: write the year in full ({_ORDER_TEXT[order]})")
            year = int(year_text) + (2000 if len(year_text) == 2 else 0)
            shape = _ORDER_TEXT[order].replace("/", match[2])
        else:
            month_number = _MONTHS.get(match[2].casefold())
            if month_number is None:
                raise Refused(f"{text!r} is not a date: {match[2]!r} is not a month")
            if len(match[3]) != 4 and not (short_years and len(match[3]) == 2):
                raise Refused(f"{text!r}: write the year in full (DD-Mon-YYYY)")
            day, month, year = int(match[1]), month_number, int(match[3]) + (2000 if len(match[3]) == 2 else 0)
            shape = "DD-Mon-YYYY"
        try:
            return dt.date(year, month, day)
        except ValueError as exc:
            hint = ""
            if pattern is _NUMERIC and order == "dmy" and 1 <= day <= 12 and month > 12:
                hint = "; if the file writes the month first, upload it with --date-order mdy"
            raise Refused(f"{text!r} is not a date as {shape} ({exc}){hint}") from None
    raise Refused(f"{text!r} is not a date (YYYY-MM-DD, {_ORDER_TEXT[order]}, DD-MM-YYYY or DD-Mon-YYYY)")


def date_from_cell(value: object, order: DateOrder, *, short_years: bool = False) -> dt.date:
    """A date from a spreadsheet cell: Excel's own date or date-time, a serial day number, or text."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A date cell that lost its date format shows Excel's serial day number.
        if value == int(value) and int(value) in _EXCEL_SERIALS:
            return _EXCEL_EPOCH + dt.timedelta(days=int(value))
        raise Refused(f"{value!r} is a number, not a date")
    if isinstance(value, str):
        return parse_date(value.strip(), order, short_years=short_years)
    raise Refused(f"{cell_text(value)!r} is not a date")


# Mobiles: the ten digits of an Indian mobile number (it starts with 6, 7, 8 or 9), after an optional +91, 91
# or 0 and with spaces, hyphens, dots and brackets taken out.
_MOBILE_SEPARATORS = re.compile(r"[ ()./-]")
_MOBILE = re.compile(r"(?:\+?91|0)?([6-9][0-9]{9})")
_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+")


def parse_mobile(text: str) -> str:
    """The ten digits of a mobile number written any usual way; anything else is refused."""
    if len(text) == 10 and text.isascii() and text.isdigit() and text[0] in "6789":
        return text
    if _SCIENTIFIC.fullmatch(text):
        raise Refused(
            f"{text!r} lost its digits to scientific notation: format the column as Text or Number "
            "(0 decimals) before saving"
        )
    match = _MOBILE.fullmatch(_MOBILE_SEPARATORS.sub("", text))
    if match is None or not text.isascii():
        raise Refused(
            f"{text!r} is not an Indian mobile number (10 digits starting 6-9, optionally after +91, 91 or 0)"
        )
    return match[1]


def cell_text(value: object) -> str:
    """A spreadsheet cell as text the way a person reads it: whole numbers without ``.0``, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# What each column means, for the template's Columns sheet and `bills template --columns`.
COLUMN_HELP: dict[str, tuple[str, str]] = {
    "customer_id": ("yes", "The lender's id for the borrower; at most 64 characters."),
    "customer_name": ("yes", "As on the loan; at most 200 characters. Partners may ask the customer to confirm it."),
    "mobile": ("column yes, value no", "10 digits; +91 98765 43210, 91-9876543210 and 09876543210 are read too."),
    "loan_account_number": ("column yes, value no", "The loan the bill belongs to; at most 64 characters."),
    "partner_bill_id": ("yes", "The lender's id for this instalment, unique across all bills; at most 64 characters."),
    "bill_name": ("yes", "What the customer sees, e.g. 'Instalment 7 of 12'; at most 100 characters."),
    "amount": ("yes", "Rupees, at most 2 decimals: 2450, 2,450.50, 1,23,456.50, ₹ 2,450, Rs. 2450/-."),
    "due_date": ("yes", "DD/MM/YYYY, DD-MM-YYYY, DD-Mon-YYYY, YYYY-MM-DD, or an Excel date."),
    "generated_date": ("yes", "When the bill was raised; not in the future; before the due date."),
    "amount_exactness": ("yes", "EXACT, EXACT_UP (at least), EXACT_DOWN (up to), ANY, or RANGE (min to max)."),
    "min_amount": ("for RANGE", "Rupees; only for a RANGE bill."),
    "max_amount": ("for RANGE", "Rupees; only for a RANGE bill."),
}


def read_bill_ids(path: Path) -> list[str]:
    """The partner_bill_ids in a file: one a line, or a CSV or workbook column named like partner_bill_id (any
    accepted spelling; otherwise the first column). Blank lines are skipped, repeats read once."""
    if path.suffix.casefold() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise ColumnMapError(
                f"{path.name} is not an Excel workbook that can be read ({type(exc).__name__})"
            ) from None
        try:
            rows = [
                [cell_text(cell).strip() for cell in row] for row in workbook.worksheets[0].iter_rows(values_only=True)
            ]
        finally:
            workbook.close()
    else:
        import csv

        try:
            with open(path, encoding="utf-8-sig", newline="") as file:
                rows = [[cell.strip() for cell in row] for row in csv.reader(file)]
        except UnicodeDecodeError:
            raise ColumnMapError(f"{path.name} is not UTF-8 text") from None
    rows = [row for row in rows if any(row)]
    column = 0
    if rows:
        keys = [_KNOWN.get(column_key(name)) for name in rows[0]]
        if "partner_bill_id" in keys:
            column = keys.index("partner_bill_id")
            rows = rows[1:]
    return list(dict.fromkeys(row[column] for row in rows if len(row) > column and row[column]))
