"""The upload file, row by row: which rows are valid, and how a bad row or a bad file is described."""

import csv
import datetime as dt
import io

import pytest

from biller_server.domain.upload.reader import (
    COLUMNS,
    BillRow,
    RejectedRow,
    UploadFileError,
    open_bill_csv,
    template_csv,
)
from tests.factories import GOOD_BILL_ROW as GOOD

TODAY = dt.date(2026, 11, 1)


def csv_text(*rows: dict[str, str], columns=COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read(tmp_path, content: str | bytes) -> list[BillRow | RejectedRow]:
    path = tmp_path / "bills.csv"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with open_bill_csv(path, today=TODAY) as rows:
        return list(rows)


def read_one(tmp_path, **overrides: str) -> BillRow | RejectedRow:
    (row,) = read(tmp_path, csv_text({**GOOD, **overrides}))
    return row


def problems_of(tmp_path, **overrides: str) -> dict[str | None, str]:
    row = read_one(tmp_path, **overrides)
    assert isinstance(row, RejectedRow), row
    return dict(row.problems)


def test_valid_row_becomes_paise_and_dates(tmp_path):
    row = read_one(tmp_path, amount="1250.5", mobile="", loan_account_number="")

    assert row == BillRow(
        line=2,
        customer_id="C1",
        customer_name="Asha Devi",
        mobile=None,
        loan_account_number=None,
        partner_bill_id="B1",
        bill_name="Instalment 1 of 12",
        amount_paise=125_050,
        exactness="EXACT",
        min_amount_paise=None,
        max_amount_paise=None,
        due_date=dt.date(2026, 11, 15),
        generated_date=dt.date(2026, 11, 1),
    )


def test_values_are_trimmed_and_exactness_is_case_insensitive(tmp_path):
    row = read_one(tmp_path, customer_id="  C1 ", amount_exactness=" exact_up ")

    assert isinstance(row, BillRow)
    assert (row.customer_id, row.exactness) == ("C1", "EXACT_UP")


def test_range_bill_keeps_its_minimum_and_maximum(tmp_path):
    row = read_one(tmp_path, amount_exactness="RANGE", min_amount="500", max_amount="1000")

    assert isinstance(row, BillRow)
    assert (row.min_amount_paise, row.max_amount_paise) == (50_000, 100_000)


def test_min_and_max_columns_may_be_left_out_of_the_header(tmp_path):
    rows = read(tmp_path, csv_text(GOOD, columns=COLUMNS[:-2]))

    assert isinstance(rows[0], BillRow)


def test_range_bill_in_a_file_without_a_max_amount_column_is_rejected(tmp_path):
    rows = read(tmp_path, csv_text({**GOOD, "amount_exactness": "RANGE", "min_amount": "1"}, columns=COLUMNS[:-1]))

    assert str(rows[0]) == "line 2: max_amount: is required for a RANGE bill"


@pytest.mark.parametrize(
    "column",
    [
        "customer_id",
        "customer_name",
        "partner_bill_id",
        "bill_name",
        "amount",
        "due_date",
        "generated_date",
        "amount_exactness",
    ],
)
def test_required_value_missing_is_rejected(tmp_path, column):
    assert problems_of(tmp_path, **{column: "  "})[column] == "is required"


@pytest.mark.parametrize(
    ("column", "limit"),
    [
        ("customer_id", 64),
        ("customer_name", 200),
        ("loan_account_number", 64),
        ("partner_bill_id", 64),
        ("bill_name", 100),
    ],
)
def test_value_longer_than_its_column_is_rejected(tmp_path, column, limit):
    assert read_one(tmp_path, **{column: "x" * limit}).__class__ is BillRow
    assert f"at most {limit} fit" in problems_of(tmp_path, **{column: "x" * (limit + 1)})[column]


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("0", "must be more than zero"),
        ("0.00", "must be more than zero"),
        ("-5", "is not an amount"),
        ("10.505", "more than two decimals"),
        ("1,0,00", "is not an amount"),
        ("ten", "is not an amount"),
    ],
)
def test_amount_that_is_not_positive_rupees_is_rejected(tmp_path, amount, reason):
    assert reason in problems_of(tmp_path, amount=amount)["amount"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("20261101", "is not a date (YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY or DD-Mon-YYYY)"),
        ("2026-02-30", "is not a date as YYYY-MM-DD (day is out of range for month)"),
        ("31/11/2026", "is not a date as DD/MM/YYYY (day is out of range for month)"),
        ("11/30/2026", "month must be in 1..12); if the file writes the month first, upload it with --date-order mdy"),
        ("15/11/26", "write the year in full (DD/MM/YYYY)"),
        ("15-Nob-2026", "'Nob' is not a month"),
        ("tomorrow", "is not a date"),
    ],
)
def test_date_that_is_not_a_date_is_rejected(tmp_path, text, reason):
    assert reason in problems_of(tmp_path, due_date=text)["due_date"]


def test_generated_date_in_the_future_is_rejected(tmp_path):
    problems = problems_of(tmp_path, generated_date="2026-11-02", due_date="2026-11-30")

    assert problems["generated_date"] == "2026-11-02 is in the future (today is 2026-11-01)"


def test_generated_date_after_the_due_date_is_rejected(tmp_path):
    problems = problems_of(tmp_path, generated_date="2026-10-20", due_date="2026-10-10")

    assert problems["generated_date"] == "2026-10-20 is after the due date 2026-10-10"


def test_due_date_equal_to_generated_date_is_rejected_as_bbps_requires(tmp_path):
    problems = problems_of(tmp_path, generated_date="2026-10-20", due_date="2026-10-20")

    assert "equals the due date" in problems["generated_date"]


def test_due_date_in_the_past_is_accepted_for_an_overdue_instalment(tmp_path):
    assert isinstance(read_one(tmp_path, generated_date="2026-09-01", due_date="2026-09-10"), BillRow)


def test_unknown_exactness_is_rejected(tmp_path):
    assert (
        "is not one of EXACT, EXACT_UP, EXACT_DOWN, ANY, RANGE"
        in problems_of(tmp_path, amount_exactness="FIXED")["amount_exactness"]
    )


@pytest.mark.parametrize("missing", ["min_amount", "max_amount"])
def test_range_bill_needs_both_minimum_and_maximum(tmp_path, missing):
    values = {"amount_exactness": "RANGE", "min_amount": "100", "max_amount": "1000", missing: ""}

    assert problems_of(tmp_path, **values) == {missing: "is required for a RANGE bill"}


def test_range_minimum_above_maximum_is_rejected(tmp_path):
    problems = problems_of(tmp_path, amount_exactness="RANGE", min_amount="1000", max_amount="999.99")

    assert problems == {"min_amount": "1000.00 is more than max_amount 999.99"}


@pytest.mark.parametrize("column", ["min_amount", "max_amount"])
def test_range_bound_that_is_not_positive_is_rejected(tmp_path, column):
    values = {"amount_exactness": "RANGE", "min_amount": "100", "max_amount": "1000", column: "0"}

    assert "must be more than zero" in problems_of(tmp_path, **values)[column]


def test_minimum_on_a_bill_that_is_not_range_is_rejected(tmp_path):
    problems = problems_of(tmp_path, amount_exactness="EXACT_UP", min_amount="100")

    assert problems == {"min_amount": "only a RANGE bill has one; leave it empty for EXACT_UP"}


@pytest.mark.parametrize(
    "mobile", ["987654321", "98765432100", "5876543210", "+1 9876543210", "0091 98765 43210", "٩٨٧٦٥٤٣٢١٠"]
)
def test_mobile_that_is_not_an_indian_mobile_is_rejected(tmp_path, mobile):
    assert "is not an Indian mobile number" in problems_of(tmp_path, mobile=mobile)["mobile"]


def test_every_problem_of_a_row_is_reported_with_its_line_and_column(tmp_path):
    row = read_one(tmp_path, amount="0", mobile="12", amount_exactness="")

    assert str(row) == (
        "line 2: amount_exactness: is required; mobile: '12' is not an Indian mobile number (10 digits starting "
        "6-9, optionally after +91, 91 or 0); amount: '0' must be more than zero"
    )


def test_every_bad_row_is_reported_not_only_the_first(tmp_path):
    content = csv_text(GOOD, {**GOOD, "amount": "0"}, GOOD, {**GOOD, "due_date": "soon"})

    rows = read(tmp_path, content)

    assert [row.line for row in rows if isinstance(row, RejectedRow)] == [3, 5]


def test_ragged_row_is_rejected_with_its_line(tmp_path):
    content = csv_text(GOOD) + "C2,Ravi,,LN2,B2\n"

    rows = read(tmp_path, content)

    assert str(rows[1]) == "line 3: has 5 fields; the header has 12"


def test_blank_lines_are_skipped_and_lines_keep_their_numbers(tmp_path):
    content = csv_text(GOOD) + "\n,,,,,,,,,,,\n" + csv_text({**GOOD, "amount": "0"}).split("\n", 1)[1]

    rows = read(tmp_path, content)

    assert len(rows) == 2
    assert rows[1].line == 5


def test_value_spanning_lines_is_reported_at_the_line_its_row_starts(tmp_path):
    content = csv_text({**GOOD, "bill_name": "two\nlines"}, {**GOOD, "amount": "0"})

    rows = read(tmp_path, content)

    assert rows[0].bill_name == "two\nlines"
    assert rows[1].line == 4


def test_row_with_a_nul_character_is_rejected(tmp_path):
    rows = read(tmp_path, csv_text(GOOD, {**GOOD, "bill_name": "Instalment\x00"}))

    assert str(rows[1]) == "line 3: contains a NUL character"


def test_byte_order_mark_from_a_spreadsheet_is_accepted(tmp_path):
    rows = read(tmp_path, b"\xef\xbb\xbf" + csv_text(GOOD).encode())

    assert isinstance(rows[0], BillRow)


def test_header_names_are_matched_ignoring_case_and_spaces(tmp_path):
    content = csv_text(GOOD).replace("customer_id", " Customer_ID ", 1)

    assert isinstance(read(tmp_path, content)[0], BillRow)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "bills.csv is empty"),
        (csv_text().encode(), "bills.csv has a header but no bills"),
        (
            csv_text(GOOD).split("\n", 1)[1].encode(),
            "bills.csv: no column for customer_id, customer_name, mobile, loan_account_number, partner_bill_id,",
        ),
        (csv_text(GOOD, columns=COLUMNS[1:]).encode(), "no column for customer_id (accepted names: customer_id: "),
        (csv_text(GOOD).replace("max_amount", "mobile", 1).encode(), "columns 'mobile' and 'mobile' both read as"),
        (csv_text(GOOD).encode("utf-16"), "bills.csv is not UTF-8 text (first bad byte on line 1)"),
        (csv_text(GOOD, GOOD).replace("Asha", "Ásha").encode("latin-1"), "not UTF-8 text (first bad byte on line 2)"),
        (csv_text(GOOD).encode() + b"C2," + b"x" * 200_000, "line 3: not valid CSV (field larger than field limit"),
    ],
    ids=[
        "empty",
        "header-only",
        "no-header",
        "missing-column",
        "duplicate-column",
        "utf-16",
        "latin-1",
        "huge-field",
    ],
)
def test_malformed_file_is_refused_with_one_clear_line(tmp_path, content, message):
    with pytest.raises(UploadFileError) as raised:
        read(tmp_path, content)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_file_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(UploadFileError, match=r"cannot open .*nope\.csv: No such file or directory"):
        open_bill_csv(tmp_path / "nope.csv", today=TODAY)


def test_progress_reaches_the_size_of_the_file(tmp_path):
    path = tmp_path / "bills.csv"
    path.write_text(csv_text(*[{**GOOD, "partner_bill_id": f"B{n}"} for n in range(12_000)]))
    positions: list[int] = []

    with open_bill_csv(path, today=TODAY, on_progress=positions.append) as rows:
        assert sum(1 for _ in rows) == 12_000

    assert positions == sorted(positions)
    assert len(positions) == 3
    assert positions[-1] == path.stat().st_size


def test_template_rows_are_valid(tmp_path):
    rows = read(tmp_path, template_csv(today=TODAY))

    assert [type(row) for row in rows] == [BillRow, BillRow]
    assert {row.exactness for row in rows} == {"EXACT", "RANGE"}


def test_a_bill_id_starting_like_an_adhoc_account_is_rejected(tmp_path):
    # ADHOC-... names Setu's validate-and-pay accounts and the bills their payments book (domain/billing/adhoc.py).
    assert "ADHOC-" in problems_of(tmp_path, partner_bill_id="ADHOC-0000000001")["partner_bill_id"]
