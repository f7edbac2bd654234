"""The bill upload file: reading a lender's CSV or Excel workbook and checking each row on its own.

A file is read as a *source* (CSV here, ``.xlsx`` in ``bill_upload_xlsx``) that finds the header row and yields
raw records with their line numbers; ``BillFile`` matches the header to our columns (the spellings people use,
or the lender's own map) and turns each record into a checked ``BillRow`` or a ``RejectedRow``.

Rules that need more than one row (a partner_bill_id twice in the file, a customer with two names) are checked
by ``loader`` in a staging table (``store``), so that reading never keeps per-row state and memory stays flat.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from biller_server.domain.billing.adhoc import ADHOC_PREFIX
from biller_server.domain.money import (
    AmountError,
    paise_from_file_amount,
    paise_from_spreadsheet_number,
    rupees_text,
)
from biller_server.domain.upload.formats import (
    BILLS,
    SPELLINGS,
    DateOrder,
    Refused,
    Vocabulary,
    cell_text,
    date_from_cell,
    header_score,
    match_columns,
    parse_date,
    parse_mobile,
)
from biller_server.domain.upload.rejects import unguard
from biller_server.domain.upload.source import (
    HEADER_SEARCH_ROWS,
    REQUIRED_COLUMNS,
    Record,
    RowSource,
    UploadFileError,
    find_header,
)
from biller_server.domain.upload.xlsx import XlsxSource
from biller_server.persistence.models import AmountExactness

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
_CACHE_LIMIT = 4096  # parsed dates and amounts repeat a lot in a file; a bounded cache keeps memory flat
_SEPARATORS = ",;\t|"
_PROGRESS_EVERY = 5000


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
    record: str | None = None  # the row as it came, one CSV line (``encode_record``), when the caller keeps rows


class RejectedRow(NamedTuple):
    """A row that will not be written, with every (column, reason) found; column is None for the row as a whole.

    ``record`` is the row as it came (each cell as text), for the rejects file; empty when not known.
    """

    line: int
    problems: tuple[tuple[str | None, str], ...]
    record: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"line {self.line}: {self.reasons}"

    @property
    def reasons(self) -> str:
        return "; ".join(f"{column}: {reason}" if column else reason for column, reason in self.problems)


class CsvSource:
    """A CSV file: UTF-8 (a spreadsheet's byte-order mark is fine), separated by commas, semicolons, tabs or |."""

    is_text = True

    def __init__(self, path: Path, *, vocabulary: Vocabulary = BILLS) -> None:
        self.path = path
        self.name = path.name
        self.vocabulary = vocabulary
        try:
            self._binary = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise UploadFileError(f"cannot open {path}: {exc.strerror}") from None
        self.size = path.stat().st_size
        try:
            self.delimiter = self._sniff_delimiter()
            self._open_reader()
            self.header_line, self.header = find_header(self._numbered(), self.name, vocabulary)
            self._rewind_to_after_header()
        except BaseException:
            self.close()
            raise

    def _sniff_delimiter(self) -> str:
        """Commas unless the opening lines are clearly separated by something else (Excel's tab-separated text,
        the semicolons of a European locale, the | of some loan systems)."""
        sample = self._binary.read(64 * 1024).decode("utf-8-sig", errors="replace")
        self._binary.seek(0)
        best = ","
        best_score = 0
        for delimiter in _SEPARATORS:
            rows = csv.reader(io.StringIO(sample), delimiter=delimiter)
            try:
                opening = itertools.islice(rows, HEADER_SEARCH_ROWS)
                score = max((header_score(row, self.vocabulary) for row in opening), default=0)
            except csv.Error:
                continue
            if score > best_score:
                best, best_score = delimiter, score
        return best

    def _open_reader(self) -> None:
        self._binary.seek(0)
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._text, delimiter=self.delimiter)

    def _numbered(self) -> Iterator[tuple[int, list[str]]]:
        last_line = self._reader.line_num
        while (record := self._next_record()) is not None:
            yield last_line + 1, record  # where the record starts: a quoted value may span lines
            last_line = self._reader.line_num

    def _rewind_to_after_header(self) -> None:
        self._text.detach()
        self._open_reader()
        for line, _ in self._numbered():
            if line >= self.header_line:
                break

    def close(self) -> None:
        self._binary.close()

    def position(self) -> int:
        return self._binary.tell() if not self._binary.closed else self.size

    def _next_record(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError:
            raise UploadFileError(
                f"{self.name} is not UTF-8 text (first bad byte on line {self._first_undecodable_line()}): "
                "save it as 'CSV UTF-8'"
            ) from None
        except csv.Error as exc:
            raise UploadFileError(f"{self.name}, line {self._reader.line_num}: not valid CSV ({exc})") from None

    def _first_undecodable_line(self) -> int:
        with open(self.path, "rb") as binary:
            for number, raw_line in enumerate(binary, start=1):
                try:
                    raw_line.decode("utf-8")
                except UnicodeDecodeError:
                    return number
        return self._reader.line_num + 1

    def records(self) -> Iterator[Record]:
        for line, record in self._numbered():
            yield Record(line, record)  # type: ignore[arg-type]  # list[str] is a list of cells


class BillFile:
    """An open upload file whose header has been matched; iterating it yields a BillRow or RejectedRow per row.

    Opening reads only up to the header, so a file that cannot be a bill upload is refused before any database
    work begins.
    """

    def __init__(
        self,
        source: RowSource,
        *,
        today: dt.date,
        columns: Mapping[str, str] | None = None,
        date_order: DateOrder = "dmy",
        on_progress: Callable[[int], None] | None = None,
        keep_records: bool = False,
    ) -> None:
        self.source = source
        self.keep_records = keep_records
        self.path_name = source.name
        self.today = today
        self.date_order: DateOrder = date_order
        self.size = source.size
        self.rows_read = 0
        self._on_progress = on_progress
        try:
            matched = match_columns(source.header, columns or {}, required=REQUIRED_COLUMNS)
        except ValueError as exc:
            source.close()
            raise UploadFileError(f"{source.name}: {exc}") from None
        self.header = source.header
        self.ignored_columns = matched.ignored
        self._positions = matched.positions
        self._dates: dict[object, dt.date | str] = {}
        self._amounts: dict[object, int | str] = {}

    def __enter__(self) -> BillFile:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()

    def __iter__(self) -> Iterator[BillRow | RejectedRow]:
        width = len(self.header)
        # Values are picked in COLUMNS order; optional columns absent from the header read as empty.
        order = [self._positions.get(name) for name in COLUMNS]
        for line, cells in self.source.records():
            if self.source.is_text:
                joined = "".join(cells)  # type: ignore[arg-type]  # a text source's cells are str
                if not joined.strip():
                    continue  # blank lines, and spreadsheets' trailing ",,,," lines
                if "'" in joined:
                    cells = [unguard(cell) for cell in cells]  # type: ignore[arg-type]
            else:
                if not any(cell_text(cell).strip() for cell in cells):
                    continue
                if len(cells) < width:
                    cells = [*cells, *([None] * (width - len(cells)))]  # a sheet's row ends at its last value
            if len(cells) > width and not any(cell_text(cell).strip() for cell in cells[width:]):
                cells = cells[:width]  # trailing empty fields, as some exports write them
            self.rows_read += 1
            if self._on_progress is not None and self.rows_read % _PROGRESS_EVERY == 0:
                self._on_progress(self.source.position())
            if len(cells) != width:
                yield self._rejected(line, cells, ((None, f"has {len(cells)} fields; the header has {width}"),))
                continue
            if self.source.is_text and "\x00" in joined:
                # Python's csv reads NUL characters, but no database column can hold one.
                yield self._rejected(line, cells, ((None, "contains a NUL character"),))
                continue
            values = [cells[position] if position is not None else "" for position in order]
            checked = self._check(line, values)
            if isinstance(checked, RejectedRow):
                checked = self._rejected(line, cells, checked.problems)
            elif self.keep_records:
                checked = checked._replace(record=encode_record([cell_text(cell) for cell in cells]))
            yield checked
        if self._on_progress is not None:
            self._on_progress(self.size)
        if self.rows_read == 0:
            raise UploadFileError(f"{self.path_name} has a header but no bills")

    @staticmethod
    def _rejected(line: int, cells: Sequence[object], problems: tuple[tuple[str | None, str], ...]) -> RejectedRow:
        return RejectedRow(line, problems, tuple(cell_text(cell) for cell in cells))

    def _check(self, line: int, cells: list[object]) -> BillRow | RejectedRow:
        """Apply every rule that a single row can be judged by (``cells`` in COLUMNS order)."""
        (
            customer_id,
            customer_name,
            mobile,
            loan_account_number,
            partner_bill_id,
            bill_name,
            exactness_text,
        ) = (
            _text(cells[0]),
            _text(cells[1]),
            _text(cells[2]),
            _text(cells[3]),
            _text(cells[4]),
            _text(cells[5]),
            _text(cells[9]),
        )
        amount_cell, due_cell, generated_cell, min_cell, max_cell = cells[6], cells[7], cells[8], cells[10], cells[11]
        problems: list[tuple[str | None, str]] = []
        # The common case, every value present and short enough, is decided without a loop.
        if not (
            customer_id
            and customer_name
            and partner_bill_id
            and bill_name
            and _present(amount_cell)
            and _present(due_cell)
            and _present(generated_cell)
            and exactness_text
        ):
            named = dict(zip(COLUMNS, cells, strict=True))
            problems += [(name, "is required") for name in NON_EMPTY if not _present(named[name])]
        if (
            len(customer_id) > 64
            or len(customer_name) > 200
            or len(loan_account_number) > 64
            or len(partner_bill_id) > 64
            or len(bill_name) > 100
        ):
            texts = dict(zip(COLUMNS, map(_text, cells), strict=True))
            problems += [
                (name, f"is {len(texts[name])} characters long; at most {limit} fit")
                for name, limit in MAX_LENGTHS.items()
                if len(texts[name]) > limit
            ]

        if mobile:
            try:
                mobile = parse_mobile(mobile)
            except Refused as exc:
                problems.append(("mobile", str(exc)))

        if partner_bill_id.startswith(ADHOC_PREFIX):
            problems.append(("partner_bill_id", f"starts with {ADHOC_PREFIX}, which names ad-hoc payment accounts"))

        amount = self._amount("amount", amount_cell, problems)
        min_amount = self._amount("min_amount", min_cell, problems) if _present(min_cell) else None
        max_amount = self._amount("max_amount", max_cell, problems) if _present(max_cell) else None

        exactness = _EXACTNESS.get(exactness_text) or _EXACTNESS.get(exactness_text.upper())
        if exactness is None and exactness_text:
            problems.append(("amount_exactness", f"{exactness_text!r} is not one of {', '.join(AmountExactness)}"))
        if exactness == AmountExactness.RANGE:
            if not _present(min_cell):
                problems.append(("min_amount", "is required for a RANGE bill"))
            if not _present(max_cell):
                problems.append(("max_amount", "is required for a RANGE bill"))
            if min_amount is not None and max_amount is not None and min_amount > max_amount:
                problems.append(
                    ("min_amount", f"{rupees_text(min_amount)} is more than max_amount {rupees_text(max_amount)}")
                )
        elif exactness is not None:
            if _present(min_cell):
                problems.append(("min_amount", f"only a RANGE bill has one; leave it empty for {exactness}"))
            if _present(max_cell):
                problems.append(("max_amount", f"only a RANGE bill has one; leave it empty for {exactness}"))

        due_date = self._date("due_date", due_cell, problems)
        generated_date = self._date("generated_date", generated_cell, problems)
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

    def _amount(self, column: str, cell: object, problems: list[tuple[str | None, str]]) -> int | None:
        if not _present(cell):
            return None
        # Text and numbers alike are cached by value (not bools: True == 1 would share 1's entry).
        key = cell.strip() if isinstance(cell, str) else cell
        parsed = self._amounts.get(key) if not isinstance(cell, bool) else None  # type: ignore[call-overload]
        if parsed is None:
            if isinstance(key, str):
                parsed = _paise_or_reason(paise_from_file_amount, key, key)
            else:
                parsed = _paise_or_reason(paise_from_spreadsheet_number, cell, cell_text(cell))
            if len(self._amounts) >= _CACHE_LIMIT:
                self._amounts.clear()
            if not isinstance(cell, bool):
                self._amounts[key] = parsed  # type: ignore[index]
        if isinstance(parsed, str):
            problems.append((column, parsed))
            return None
        return parsed

    def _date(self, column: str, cell: object, problems: list[tuple[str | None, str]]) -> dt.date | None:
        if not _present(cell):
            return None
        key = cell.strip() if isinstance(cell, str) else cell
        parsed = self._dates.get(key) if not isinstance(cell, bool) else None  # type: ignore[call-overload]
        if parsed is None:
            try:
                parsed = (
                    parse_date(key, self.date_order) if isinstance(key, str) else date_from_cell(cell, self.date_order)
                )
            except Refused as exc:
                parsed = str(exc)
            if len(self._dates) >= _CACHE_LIMIT:
                self._dates.clear()
            if not isinstance(cell, bool):
                self._dates[key] = parsed  # type: ignore[index]
        if isinstance(parsed, str):
            problems.append((column, parsed))
            return None
        return parsed


def encode_record(cells: Sequence[str]) -> str:
    """A row's cells as one CSV line, to keep beside its checked values (the rejects file needs it as it came)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def decode_record(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(next(csv.reader([text])))


def _text(cell: object) -> str:
    if isinstance(cell, str):
        return cell.strip()
    return cell_text(cell).strip()


def _present(cell: object) -> bool:
    if isinstance(cell, str):
        return bool(cell.strip())
    return cell is not None


def _paise_or_reason(parse: Callable[[object], int], value: object, shown: str) -> int | str:
    try:
        paise = parse(value)
    except AmountError as exc:
        return str(exc)
    return paise if paise > 0 else f"{shown!r} must be more than zero"


def open_bill_file(
    path: Path,
    *,
    today: dt.date,
    sheet: str | None = None,
    columns: Mapping[str, str] | None = None,
    date_order: DateOrder = "dmy",
    on_progress: Callable[[int], None] | None = None,
    keep_records: bool = False,
) -> BillFile:
    """Open an upload file (``.xlsx`` as a workbook, anything else as CSV) and match its header.

    Raises UploadFileError for a file that cannot be a bill upload.
    """
    return BillFile(
        open_source(path, sheet=sheet),
        today=today,
        columns=columns,
        date_order=date_order,
        on_progress=on_progress,
        keep_records=keep_records,
    )


def open_source(path: Path, *, vocabulary: Vocabulary = BILLS, sheet: str | None = None) -> RowSource:
    """A CSV file or an ``.xlsx`` workbook as rows, its header found by ``vocabulary``'s column names: the one
    reader of every file an operator brings (bills, bank statements, settlement reports)."""
    if path.suffix.casefold() in (".xlsx", ".xlsm"):
        return XlsxSource(path, sheet=sheet, vocabulary=vocabulary)
    if sheet is not None:
        raise UploadFileError(f"--sheet is for Excel workbooks (.xlsx); {path.name} is read as CSV")
    return CsvSource(path, vocabulary=vocabulary)


def open_bill_csv(path: Path, *, today: dt.date, on_progress: Callable[[int], None] | None = None) -> BillFile:
    """Open a CSV upload file (kept for callers that only ever read CSV)."""
    return BillFile(CsvSource(path), today=today, on_progress=on_progress)


TEMPLATE_EXAMPLES = (
    ("CUST1001", "Asha Devi", "9876543210", "LN-2024-0001", "LN-2024-0001-07", "Instalment 7 of 12", "2450.00",
     "EXACT", "", ""),
    ("CUST1002", "Ravi Kumar", "", "LN-2024-0002", "LN-2024-0002-03", "Instalment 3 of 24", "1800.50",
     "RANGE", "500.00", "1800.50"),
)  # fmt: skip


def template_dates(today: dt.date) -> tuple[dt.date, dt.date]:
    """(generated, due) for the template's rows: this month's first, and the 10th of the next month."""
    generated = today.replace(day=1)
    return generated, (generated + dt.timedelta(days=32)).replace(day=10)


def template_csv(*, today: dt.date) -> str:
    """A header and two valid example rows, dated from ``today`` so that uploading the template always works."""
    generated, due = template_dates(today)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for example in TEMPLATE_EXAMPLES:
        *identity, amount, exactness, low, high = example
        writer.writerow([*identity, amount, due.isoformat(), generated.isoformat(), exactness, low, high])
    return buffer.getvalue()


def spellings_text() -> str:
    """The accepted spellings of every column, one column a line (for `bills template --columns` and the docs)."""
    width = max(map(len, SPELLINGS))
    return "\n".join(f"{column.ljust(width)}  {', '.join(names[1:])}" for column, names in SPELLINGS.items()) + "\n"
