"""The bill upload file: reading a lender's CSV and checking each row on its own.

Rules that need more than one row (a partner_bill_id twice in the file, a customer with two names) are checked
by ``loader`` in a staging table (``store``), so that reading never keeps per-row state and memory stays flat.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import operator
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from biller_server.domain.money import AmountError, paise_from_rupees_text, rupees_text
from biller_server.persistence.models import AmountExactness

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
OPTIONAL_COLUMNS = ("min_amount", "max_amount")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# The widths of the columns the values land in (persistence.models); longer values are refused, not cut.
MAX_LENGTHS = {
    "customer_id": 64,
    "customer_name": 200,
    "loan_account_number": 64,
    "partner_bill_id": 64,
    "bill_name": 100,
}
# Columns that must have a value; mobile, loan_account_number, min_amount and max_amount may be empty.
NON_EMPTY = (
    "customer_id",
    "customer_name",
    "partner_bill_id",
    "bill_name",
    "amount",
    "due_date",
    "generated_date",
    "amount_exactness",
)
_EXACTNESS = {exactness.value: exactness.value for exactness in AmountExactness}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CACHE_LIMIT = 4096  # parsed dates and amounts repeat a lot in a file; a bounded cache keeps memory flat


class UploadFileError(Exception):
    """The file as a whole cannot be read as a bill upload (the message is one line an operator can act on)."""


class BillRow(NamedTuple):
    """One valid row, in the order of the staging table's columns; money in paise."""

    line: int
    customer_id: str
    customer_name: str
    mobile: str | None
    loan_account_number: str | None
    partner_bill_id: str
    bill_name: str
    amount_paise: int
    exactness: str
    min_amount_paise: int | None
    max_amount_paise: int | None
    due_date: dt.date
    generated_date: dt.date


class RejectedRow(NamedTuple):
    """A row that will not be written, with every (column, reason) found; column is None for the row as a whole."""

    line: int
    problems: tuple[tuple[str | None, str], ...]

    def __str__(self) -> str:
        reasons = "; ".join(f"{column}: {reason}" if column else reason for column, reason in self.problems)
        return f"line {self.line}: {reasons}"


class BillCsv:
    """An open upload file whose header has been checked; iterating it yields a BillRow or RejectedRow per row.

    Opening reads only the header, so a malformed file is refused before any database work begins.
    """

    def __init__(self, path: Path, *, today: dt.date, on_progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.today = today
        self.size = 0
        self.rows_read = 0
        self._on_progress = on_progress
        try:
            self._binary = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise UploadFileError(f"cannot open {path}: {exc.strerror}") from None
        self.size = path.stat().st_size
        # utf-8-sig: spreadsheet programs put a byte-order mark before the header.
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._text)
        try:
            self._columns = self._read_header()
        except BaseException:
            self.close()
            raise
        self._dates: dict[str, dt.date | None] = {}
        self._amounts: dict[str, int | str] = {}

    def __enter__(self) -> BillCsv:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._text.close()

    def _next_record(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError:
            raise UploadFileError(
                f"{self.path.name} is not UTF-8 text (first bad byte on line {self._first_undecodable_line()}): "
                "save it as 'CSV UTF-8'"
            ) from None
        except csv.Error as exc:
            raise UploadFileError(f"{self.path.name}, line {self._reader.line_num}: not valid CSV ({exc})") from None

    def _first_undecodable_line(self) -> int:
        with open(self.path, "rb") as binary:
            for number, raw_line in enumerate(binary, start=1):
                try:
                    raw_line.decode("utf-8")
                except UnicodeDecodeError:
                    return number
        return self._reader.line_num + 1

    def _read_header(self) -> dict[str, int]:
        header = self._next_record()
        if header is None:
            raise UploadFileError(f"{self.path.name} is empty: expected a header line, then one bill per line")
        names = [name.strip().lower() for name in header]
        expected = ",".join(COLUMNS)
        if len(names) == 1 and any(separator in names[0] for separator in ";\t|"):
            raise UploadFileError(f"{self.path.name}: the columns must be separated by commas ({expected})")
        missing = [name for name in REQUIRED_COLUMNS if name not in names]
        if missing:
            raise UploadFileError(
                f"{self.path.name}: the first line must be the header ({expected}); missing {', '.join(missing)}"
            )
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise UploadFileError(f"{self.path.name}: column {', '.join(duplicated)} appears more than once")
        unknown = [name for name in names if name not in COLUMNS]
        if unknown:
            raise UploadFileError(
                f"{self.path.name}: unknown column {', '.join(repr(name) for name in unknown)}; "
                f"the columns are {expected}"
            )
        return {name: position for position, name in enumerate(names)}

    def __iter__(self) -> Iterator[BillRow | RejectedRow]:
        width = len(self._columns)
        # Values are picked in COLUMNS order; optional columns absent from the header read as empty.
        absent = [name for name in COLUMNS if name not in self._columns]
        padding = [""] * len(absent)
        positions = {**self._columns, **{name: width + offset for offset, name in enumerate(absent)}}
        pick = operator.itemgetter(*(positions[name] for name in COLUMNS))
        last_line = self._reader.line_num
        while (record := self._next_record()) is not None:
            line = last_line + 1  # where the record starts: a quoted value may span lines
            last_line = self._reader.line_num
            joined = "".join(record)
            if not joined.strip():
                continue  # blank lines, and spreadsheets' trailing ",,,," lines
            self.rows_read += 1
            if self._on_progress is not None and self.rows_read % 5000 == 0:
                self._on_progress(self._binary.tell())
            if len(record) != width:
                yield RejectedRow(line, ((None, f"has {len(record)} fields; the header has {width}"),))
                continue
            if "\x00" in joined:
                # Python's csv reads NUL characters, but no database column can hold one.
                yield RejectedRow(line, ((None, "contains a NUL character"),))
                continue
            if padding:
                record += padding
            yield self._check(line, [value.strip() for value in pick(record)])
        if self._on_progress is not None:
            self._on_progress(self.size)
        if self.rows_read == 0:
            raise UploadFileError(f"{self.path.name} has a header but no bills")

    def _check(self, line: int, values: list[str]) -> BillRow | RejectedRow:
        """Apply every rule that a single row can be judged by (``values`` in COLUMNS order, trimmed)."""
        (
            customer_id,
            customer_name,
            mobile,
            loan_account_number,
            partner_bill_id,
            bill_name,
            amount_text,
            due_text,
            generated_text,
            exactness_text,
            min_text,
            max_text,
        ) = values
        problems: list[tuple[str | None, str]] = []
        # The common case, every value present and short enough, is decided without a loop.
        if not (
            customer_id
            and customer_name
            and partner_bill_id
            and bill_name
            and amount_text
            and due_text
            and generated_text
            and exactness_text
        ):
            named = dict(zip(COLUMNS, values, strict=True))
            problems += [(name, "is required") for name in NON_EMPTY if not named[name]]
        if (
            len(customer_id) > 64
            or len(customer_name) > 200
            or len(loan_account_number) > 64
            or len(partner_bill_id) > 64
            or len(bill_name) > 100
        ):
            named = dict(zip(COLUMNS, values, strict=True))
            problems += [
                (name, f"is {len(named[name])} characters long; at most {limit} fit")
                for name, limit in MAX_LENGTHS.items()
                if len(named[name]) > limit
            ]

        if mobile and not (len(mobile) == 10 and mobile.isascii() and mobile.isdigit()):
            problems.append(("mobile", f"{mobile!r} is not a 10-digit mobile number"))

        amount = self._amount("amount", amount_text, problems)
        min_amount = self._amount("min_amount", min_text, problems) if min_text else None
        max_amount = self._amount("max_amount", max_text, problems) if max_text else None

        exactness = _EXACTNESS.get(exactness_text) or _EXACTNESS.get(exactness_text.upper())
        if exactness is None and exactness_text:
            problems.append(("amount_exactness", f"{exactness_text!r} is not one of {', '.join(AmountExactness)}"))
        if exactness == AmountExactness.RANGE:
            if not min_text:
                problems.append(("min_amount", "is required for a RANGE bill"))
            if not max_text:
                problems.append(("max_amount", "is required for a RANGE bill"))
            if min_amount is not None and max_amount is not None and min_amount > max_amount:
                problems.append(
                    ("min_amount", f"{rupees_text(min_amount)} is more than max_amount {rupees_text(max_amount)}")
                )
        elif exactness is not None:
            if min_text:
                problems.append(("min_amount", f"only a RANGE bill has one; leave it empty for {exactness}"))
            if max_text:
                problems.append(("max_amount", f"only a RANGE bill has one; leave it empty for {exactness}"))

        due_date = self._date("due_date", due_text, problems)
        generated_date = self._date("generated_date", generated_text, problems)
        if generated_date is not None:
            if generated_date > self.today:
                problems.append(("generated_date", f"{generated_date} is in the future (today is {self.today})"))
            if due_date is not None and generated_date > due_date:
                problems.append(("generated_date", f"{generated_date} is after the due date {due_date}"))
            elif due_date is not None and generated_date == due_date:
                # NPCI's BBPS rule: "dueDate must not equal generatedOn"; partners reject such a bill.
                problems.append(("generated_date", "equals the due date, which BBPS does not allow"))

        if problems:
            return RejectedRow(line, tuple(problems))
        assert amount is not None and exactness is not None and due_date is not None and generated_date is not None
        return BillRow(
            line,
            customer_id,
            customer_name,
            mobile or None,
            loan_account_number or None,
            partner_bill_id,
            bill_name,
            amount,
            exactness,
            min_amount,
            max_amount,
            due_date,
            generated_date,
        )

    def _amount(self, column: str, text: str, problems: list[tuple[str | None, str]]) -> int | None:
        if not text:
            return None
        parsed = self._amounts.get(text)
        if parsed is None:
            try:
                paise = paise_from_rupees_text(text)
                parsed = paise if paise > 0 else f"{text!r} must be more than zero"
            except AmountError as exc:
                parsed = str(exc)
            if len(self._amounts) >= _CACHE_LIMIT:
                self._amounts.clear()
            self._amounts[text] = parsed
        if isinstance(parsed, str):
            problems.append((column, parsed))
            return None
        return parsed

    def _date(self, column: str, text: str, problems: list[tuple[str | None, str]]) -> dt.date | None:
        if not text:
            return None
        if text in self._dates:
            parsed = self._dates[text]
        else:
            parsed = None
            if _ISO_DATE.fullmatch(text):
                try:
                    parsed = dt.date.fromisoformat(text)
                except ValueError:
                    parsed = None
            if len(self._dates) >= _CACHE_LIMIT:
                self._dates.clear()
            self._dates[text] = parsed
        if parsed is None:
            problems.append((column, f"{text!r} is not a date (YYYY-MM-DD)"))
        return parsed


def open_bill_csv(path: Path, *, today: dt.date, on_progress: Callable[[int], None] | None = None) -> BillCsv:
    """Open an upload file and check its header; raises UploadFileError for a file that cannot be a bill upload."""
    return BillCsv(path, today=today, on_progress=on_progress)


def template_csv(*, today: dt.date) -> str:
    """A header and two valid example rows, dated from ``today`` so that uploading the template always works."""
    generated = today.replace(day=1)
    due = (generated + dt.timedelta(days=32)).replace(day=10)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow(
        ["CUST1001", "Asha Devi", "9876543210", "LN-2024-0001", "LN-2024-0001-07", "Instalment 7 of 12",
         "2450.00", due.isoformat(), generated.isoformat(), "EXACT", "", ""]
    )  # fmt: skip
    writer.writerow(
        ["CUST1002", "Ravi Kumar", "", "LN-2024-0002", "LN-2024-0002-03", "Instalment 3 of 24",
         "1800.50", due.isoformat(), generated.isoformat(), "RANGE", "500.00", "1800.50"]
    )  # fmt: skip
    return buffer.getvalue()
