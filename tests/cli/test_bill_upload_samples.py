"""``bills upload`` on files as lenders have them (tests/samples/upload, made by make_samples.py), on both databases:
what is read, what is refused and why, the rejects file, the change list, the record of each upload."""

import csv
import datetime as dt
import re
import shutil
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from biller_server.cli import bills as bills_cli
from biller_server.cli import cli
from biller_server.domain.upload import xlsx
from biller_server.persistence.models import Bill, BillStatus, BillUpload, BillUploadState, Customer
from tests.factories import PaymentFactory

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "upload"


pytestmark = pytest.mark.usefixtures("bills_today")


def upload(runner, *arguments: str | Path):
    return runner.invoke(cli, ["bills", "upload", *map(str, arguments)])


def stored(session) -> dict[str, Bill]:
    session.expire_all()
    return {bill.partner_bill_id: bill for bill in session.scalars(sa.select(Bill))}


def mobiles(session) -> dict[str, str | None]:
    return dict(session.execute(sa.select(Customer.lender_customer_id, Customer.mobile)).all())


def test_loan_system_csv_export_uploads_as_it_is(runner, session):
    result = upload(runner, SAMPLES / "lender_export.csv")

    assert result.exit_code == 0, result.output
    assert "Columns ignored: Sr No, Branch, DPD." in result.stdout
    assert "Bills: 5 created, 0 updated, 0 unchanged, 0 conflicts, 0 rejected (of 5 rows)." in result.stdout
    bills = stored(session)
    assert {key: bill.amount_paise for key, bill in bills.items()} == {
        "LAN-2001-05": 245_000,  # "2,450.00"
        "LAN-2001-06": 245_000,  # "₹ 2,450"
        "LAN-2002-03": 12_345_650,  # "1,23,456.50"
        "LAN-2003-01": 245_000,  # "Rs. 2450/-"
        "LAN-2004-09": 12_345_650,  # "123,456.50"
    }
    assert (bills["LAN-2003-01"].min_amount_paise, bills["LAN-2003-01"].max_amount_paise) == (100_000, 245_000)
    assert {key: bill.due_date for key, bill in bills.items()} == {
        "LAN-2001-05": dt.date(2026, 11, 5),  # 05/11/2026, day first
        "LAN-2001-06": dt.date(2026, 12, 5),  # 05-12-2026
        "LAN-2002-03": dt.date(2026, 11, 10),  # 10-Nov-2026
        "LAN-2003-01": dt.date(2026, 11, 20),  # 2026-11-20
        "LAN-2004-09": dt.date(2026, 11, 20),  # 20/11/2026 00:00
    }
    assert mobiles(session) == {
        "CUST1001": "9876543210",  # +91 98765 43210
        "CUST1002": "9876543211",  # 91-9876543211
        "CUST1003": "9876543212",  # 09876543212
        "CUST1004": None,
    }


def test_excel_workbook_is_read_with_excels_own_types(runner, session):
    result = upload(runner, SAMPLES / "lender_export.xlsx")

    assert result.exit_code == 0, result.output
    assert "Columns ignored: Branch, Product." in result.stdout
    bills = stored(session)
    assert sorted(bills) == ["LAN-7001-05", "LAN-7002-03", "LAN-7003-01", "LAN-7004-09"]
    assert bills["LAN-7002-03"].amount_paise == 12_345_650  # the number 123456.5
    assert bills["LAN-7004-09"].amount_paise == 245_010  # a formula's 2450.1000000000004, as Excel shows it
    assert bills["LAN-7002-03"].due_date == dt.date(2026, 11, 10)  # an Excel date-time
    assert bills["LAN-7003-01"].due_date == dt.date(2026, 11, 20)  # a date cell that lost its format: 46346
    assert bills["LAN-7003-01"].loan_account_number == "7003"  # a number where text was meant
    assert mobiles(session)["CUST7001"] == "9876543210"  # stored as a number, not 9.87654E+09
    assert mobiles(session)["CUST7002"] == "9876543211"


def test_another_sheet_is_read_when_named(runner, session):
    result = upload(runner, SAMPLES / "lender_export.xlsx", "--sheet", "Demand Dec")

    assert result.exit_code == 0, result.output
    assert sorted(stored(session)) == ["LAN-7001-06"]


def test_a_sheet_that_is_not_there_is_refused_naming_the_sheets(runner):
    result = upload(runner, SAMPLES / "lender_export.xlsx", "--sheet", "Demand Jan")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: lender_export.xlsx has no sheet 'Demand Jan'; its sheets are 'Demand Nov', 'Demand Dec'\n"
    )


def test_a_file_that_is_not_a_workbook_is_refused_in_one_line(runner, tmp_path):
    fake = tmp_path / "bills.xlsx"
    fake.write_text("customer_id,customer_name\n")

    result = upload(runner, fake)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: bills.xlsx is not an Excel workbook (.xlsx) that can be read")
    assert "Traceback" not in result.output


def test_month_first_dates_are_refused_by_default_and_read_with_date_order_mdy(runner, session):
    refused = upload(runner, SAMPLES / "month_first.csv")

    assert refused.exit_code == 1
    assert (
        "rejected: line 2: due_date: '11/15/2026' is not a date as DD/MM/YYYY (month must be in 1..12); "
        "if the file writes the month first, upload it with --date-order mdy" in refused.stderr
    )
    assert stored(session) == {}

    accepted = upload(runner, SAMPLES / "month_first.csv", "--date-order", "mdy")

    assert accepted.exit_code == 0, accepted.output
    assert {key: bill.due_date for key, bill in stored(session).items()} == {
        "LAN-3001-01": dt.date(2026, 11, 15),
        "LAN-3002-01": dt.date(2026, 12, 5),  # 12/05/2026: December, not 12 May
    }


REFUSED_CSV_LINES = {
    3: "amount: '2,450.505' has more than two decimals",
    4: "amount: '24,50' is not an amount in rupees",
    5: "amount: '-2450' is not an amount in rupees",
    6: "amount: '२४५०' is not an amount in rupees",
    7: "mobile: '98765' is not an Indian mobile number",
    8: "mobile: '9.87654E+09' lost its digits to scientific notation",
    9: "mobile: '+1 415 555 0100' is not an Indian mobile number",
    10: "due_date: '31/11/2026' is not a date as DD/MM/YYYY (day is out of range for month)",
    11: "due_date: '05/11/26': write the year in full (DD/MM/YYYY)",
    12: "due_date: '11/25/2026' is not a date as DD/MM/YYYY (month must be in 1..12); if the file writes the month",
    13: "generated_date: 2026-10-20 is after the due date 2026-10-05",
    14: "mobile: '=HYPERLINK(\"http://example.invalid\")' is not an Indian mobile number",
    15: "partner_bill_id: LAN-5001-01 is already on line 2",
    16: "customer_name: customer CUST5001 is 'Suresh Nair' on line 2",
}


def test_every_kind_of_refusal_in_a_csv_is_named_with_its_line_and_nothing_is_written(runner, session):
    result = upload(runner, SAMPLES / "refusals.csv")

    assert result.exit_code == 1
    rejected = [line for line in result.stderr.splitlines() if line.startswith("rejected: ")]
    assert len(rejected) == len(REFUSED_CSV_LINES)
    for line, reason in REFUSED_CSV_LINES.items():
        assert any(message.startswith(f"rejected: line {line}: {reason}") for message in rejected), line
    assert result.stdout.endswith("Nothing written: 14 of 16 rows rejected. Fix them, or use --skip-invalid "
                                  "to write the other rows.\n")  # fmt: skip
    assert stored(session) == {}


def test_every_kind_of_refusal_in_a_workbook_is_named_with_its_line(runner):
    result = upload(runner, SAMPLES / "refusals.xlsx")

    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("rejected: ")] == [
        "rejected: line 3: amount: 2450.505 has more than two decimals",
        "rejected: line 4: mobile: '12345' is not an Indian mobile number (10 digits starting 6-9, optionally "
        "after +91, 91 or 0)",
        "rejected: line 5: due_date: '31/11/2026' is not a date as DD/MM/YYYY (day is out of range for month)",
        "rejected: line 6: due_date: '10:30:00' is not a date",
        "rejected: line 7: amount: '0' must be more than zero",
        "rejected: line 8: generated_date: 2026-11-02 is in the future (today is 2026-11-01)",
        "rejected: line 9: due_date: 12.5 is a number, not a date",
    ]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file))


def test_rejects_file_holds_every_refused_row_as_it_came_with_line_and_reason(runner, session, tmp_path):
    rejects = tmp_path / "rejects.csv"

    result = upload(runner, SAMPLES / "refusals.csv", "--skip-invalid", "--rejects", rejects)

    assert result.exit_code == 0, result.output
    assert "rejected: " not in result.stderr  # they are in the file
    assert f"14 rows refused or left unchanged are in {rejects}" in result.stdout
    assert sorted(stored(session)) == ["LAN-5001-01", "LAN-5014-01"]
    original = read_csv(SAMPLES / "refusals.csv")
    header, *rows = read_csv(rejects)
    assert header == [*original[0], "upload_line", "upload_reason"]
    assert [int(row[-2]) for row in rows] == sorted(REFUSED_CSV_LINES)
    for row in rows:
        line = int(row[-2])
        assert REFUSED_CSV_LINES[line] in row[-1]
        came = original[line - 1]
        # As it came; a value a spreadsheet would run as a formula is kept from running by an apostrophe.
        assert row[:-2] == ["'" + cell if cell.startswith(("=", "+", "-", "@")) else cell for cell in came]
    assert rows[11][2] == '\'=HYPERLINK("http://example.invalid")'


def test_fixed_rejects_file_uploads_just_those_rows(runner, session, tmp_path):
    rejects = tmp_path / "rejects.csv"
    upload(runner, SAMPLES / "refusals.csv", "--skip-invalid", "--rejects", rejects)
    header, *rows = read_csv(rejects)
    fixed = {3: (6, "2,450.50"), 14: (2, "9876500013"), 9: (2, "'+91 98765 00008")}  # line: (column, value)
    kept = []
    for row in rows:
        line = int(row[-2])
        if line in fixed:
            column, value = fixed[line]
            row[column] = value
            kept.append(row)
    with open(tmp_path / "fixed.csv", "w", encoding="utf-8-sig", newline="") as file:
        csv.writer(file).writerows([header, *kept])

    result = upload(runner, tmp_path / "fixed.csv")

    assert result.exit_code == 0, result.output
    assert "Columns ignored: upload_line, upload_reason." in result.stdout
    bills = stored(session)
    assert bills["LAN-5002-01"].amount_paise == 245_050
    assert mobiles(session)["CUST5013"] == "9876500013"
    assert mobiles(session)["CUST5008"] == "9876500008"  # the apostrophe that guarded "+91 ..." is read away


def test_rejects_workbook_keeps_every_cell_text_never_a_formula(runner, tmp_path):
    rejects = tmp_path / "rejects.xlsx"

    upload(runner, SAMPLES / "refusals.csv", "--rejects", rejects)

    sheet = load_workbook(rejects).active
    cells = {cell.value: cell.data_type for row in sheet.iter_rows() for cell in row if cell.value}
    assert cells['=HYPERLINK("http://example.invalid")'] == "s"
    assert [cell.value for cell in sheet[1]][-2:] == ["upload_line", "upload_reason"]
    assert sheet.max_row == 1 + len(REFUSED_CSV_LINES)


def test_columns_that_cannot_be_guessed_are_named_by_a_columns_file(runner, session):
    unnamed = upload(runner, SAMPLES / "own_names.csv")
    assert unnamed.exit_code == 1
    assert unnamed.stderr.startswith("Error: own_names.csv: no column for customer_id, customer_name, mobile,")

    named = upload(runner, SAMPLES / "own_names.csv", "--columns", SAMPLES / "own_names.columns")

    assert named.exit_code == 0, named.output
    assert "Columns ignored: Centre." in named.stdout
    assert stored(session)["LAN-6001-01"].amount_paise == 99_950


def test_one_column_is_named_on_the_command_line(runner, session, tmp_path):
    path = tmp_path / "bills.csv"
    shutil.copy(SAMPLES / "lender_export.csv", path)
    path.write_bytes(path.read_bytes().replace(b"EMI Amount", b"Kist"))

    refused = upload(runner, path)
    accepted = upload(runner, path, "--column", "amount=Kist")

    assert refused.exit_code == 1
    assert "no column for amount" in refused.stderr
    assert accepted.exit_code == 0, accepted.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("amount", "--column: 'amount' is not OURS=THEIRS (e.g. amount=EMI Amt)"),
        ("amt=Kist", "--column: 'amt' is not one of our columns (customer_id, customer_name,"),
        ("amount=Kist", "--column amount=Kist: the file has no column 'Kist'"),
    ],
)
def test_a_column_mapping_that_cannot_be_used_is_refused_in_one_line(runner, option, message):
    result = upload(runner, SAMPLES / "lender_export.csv", "--column", option)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {message}") or message in result.stderr


def changed_export(tmp_path: Path) -> Path:
    path = tmp_path / "lender_export.csv"
    text = (SAMPLES / "lender_export.csv").read_text(encoding="utf-8-sig")
    text = text.replace('"2,450.00",05/11/2026', '"2,600.00",10/11/2026')
    path.write_text(text, encoding="utf-8")
    return path


def test_dry_run_lists_each_change_bill_by_bill(runner, session, tmp_path):
    upload(runner, SAMPLES / "lender_export.csv")

    result = upload(runner, changed_export(tmp_path), "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:-1] == [
        "Columns ignored: Sr No, Branch, DPD.",
        "LAN-2001-05 amount 2,450.00 → 2,600.00, due 05/11 → 10/11",
    ] or result.stdout.splitlines()[:2] == [
        "LAN-2001-05 amount 2,450.00 → 2,600.00, due 05/11 → 10/11",
        "Columns ignored: Sr No, Branch, DPD.",
    ]
    assert stored(session)["LAN-2001-05"].amount_paise == 245_000


def test_show_changes_lists_what_a_real_upload_changed(runner, session, tmp_path):
    upload(runner, SAMPLES / "lender_export.csv")

    result = upload(runner, changed_export(tmp_path), "--show-changes")

    assert result.exit_code == 0, result.output
    assert "LAN-2001-05 amount 2,450.00 → 2,600.00, due 05/11 → 10/11\n" in result.stdout
    assert "Bills: 0 created, 1 updated, 4 unchanged" in result.stdout
    assert stored(session)["LAN-2001-05"].amount_paise == 260_000


def test_a_bill_with_a_payment_is_left_alone_and_goes_to_the_rejects_file(runner, session, tmp_path):
    upload(runner, SAMPLES / "lender_export.csv")
    PaymentFactory(bill=stored(session)["LAN-2001-05"])
    rejects = tmp_path / "rejects.csv"

    result = upload(runner, changed_export(tmp_path), "--rejects", rejects)

    assert result.exit_code == 0, result.output
    assert "1 conflicts" in result.stdout
    [_, row] = read_csv(rejects)
    assert row[-2:] == ["3", "bill LAN-2001-05 has a payment: left unchanged"]
    assert row[8] == "2,600.00"


def test_each_upload_is_recorded_and_listed(runner, session):
    upload(runner, SAMPLES / "lender_export.csv")
    upload(runner, SAMPLES / "month_first.csv")

    result = runner.invoke(cli, ["bills", "uploads"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "started", "(IST)", "file"]
    assert set(lines[1]) <= {"-", " "}  # the table's rule under its titles
    assert re.search(r"month_first\.csv\s+\S+\s+refused\s+2\s+0 of 0", lines[2])
    assert re.search(r"lender_export\.csv\s+\S+\s+finished\s+5\s+4 of 4\s+5\s+0\s+0\s+0\s+0$", lines[3])
    [finished] = session.scalars(sa.select(BillUpload).where(BillUpload.state == BillUploadState.FINISHED))
    assert finished.finished_at is not None and len(finished.file_sha256) == 64


def test_bills_listed_in_a_file_are_cancelled_after_confirmation(runner, session, monkeypatch):
    upload(runner, SAMPLES / "lender_export.csv")
    monkeypatch.setattr(bills_cli, "_can_ask", lambda: True)

    declined = runner.invoke(cli, ["bills", "cancel", "--file", str(SAMPLES / "bill_ids.csv")], input="n\n")
    assert declined.exit_code == 1
    assert stored(session)["LAN-2001-05"].status == BillStatus.OPEN

    result = runner.invoke(cli, ["bills", "cancel", "--file", str(SAMPLES / "bill_ids.csv")], input="y\n")

    assert result.exit_code == 0, result.output
    assert "Cancel 2 bill(s)? Partners will no longer be offered them. [y/N]" in result.output
    assert (
        "Bill LAN-2001-05 is cancelled.\nBill LAN-2001-06 is cancelled.\n2 of 2 bills done; 0 refused." in result.output
    )
    assert {key for key, bill in stored(session).items() if bill.status == BillStatus.CANCELLED} == {
        "LAN-2001-05",
        "LAN-2001-06",
    }


def test_yes_cancels_without_asking(runner, session, monkeypatch):
    upload(runner, SAMPLES / "lender_export.csv")
    monkeypatch.setattr(bills_cli, "_can_ask", lambda: True)

    result = runner.invoke(cli, ["bills", "cancel", "LAN-2004-09", "--yes"])

    assert (result.exit_code, result.output) == (0, "Bill LAN-2004-09 is cancelled.\n")


def test_a_bill_settled_outside_bbps_is_closed_with_its_payments_kept(runner, session):
    upload(runner, SAMPLES / "lender_export.csv")
    bill = stored(session)["LAN-2002-03"]
    payment = PaymentFactory(bill=bill, amount_paise=100_000)

    result = runner.invoke(cli, ["bills", "close", "LAN-2002-03", "--reason", "foreclosed 12/11/2026"])

    assert (result.exit_code, result.output) == (
        0,
        "Bill LAN-2002-03 is closed (foreclosed 12/11/2026); its payments stay.\n",
    )
    bill = stored(session)["LAN-2002-03"]
    assert (bill.status, bill.closed_reason) == (BillStatus.CLOSED, "foreclosed 12/11/2026")
    assert bill.closed_at is not None
    assert payment.bill_id == bill.id


def test_closing_needs_a_reason(runner):
    result = runner.invoke(cli, ["bills", "close", "LAN-2002-03"])

    assert result.exit_code == 2
    assert "Missing option '--reason'" in result.stderr


def test_template_workbook_uploads_as_it_is_and_lists_the_accepted_names(runner, session, tmp_path):
    path = tmp_path / "template.xlsx"

    written = runner.invoke(cli, ["bills", "template", "--xlsx", str(path)])
    result = upload(runner, path)

    assert written.exit_code == 0, written.output
    assert result.exit_code == 0, result.output
    assert "Bills: 2 created" in result.stdout
    columns = load_workbook(path)["Columns"]
    rows = {row[0]: row for row in columns.iter_rows(min_row=2, values_only=True)}
    assert "Loan A/c No" in rows["loan_account_number"][3]
    assert rows["amount"][1] == "yes"


def test_template_columns_lists_every_accepted_name(runner):
    result = runner.invoke(cli, ["bills", "template", "--columns"])

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 12
    assert lines[3].startswith("loan_account_number  Loan Account No, Loan A/c No, Loan A/c Number,")


# -- A large workbook is cut into rows by a second process (xlsx.READER_PROCESS_BYTES) -----------------------------


@pytest.fixture
def reader_process(monkeypatch):
    """Every workbook is read as a large one is: its rows cut by the reader process."""
    monkeypatch.setattr(xlsx, "READER_PROCESS_BYTES", 0)


def test_a_workbook_cut_by_the_reader_process_uploads_with_excels_own_types(runner, session, reader_process):
    result = upload(runner, SAMPLES / "lender_export.xlsx")

    assert result.exit_code == 0, result.output
    bills = stored(session)
    assert sorted(bills) == ["LAN-7001-05", "LAN-7002-03", "LAN-7003-01", "LAN-7004-09"]
    assert bills["LAN-7002-03"].amount_paise == 12_345_650
    assert bills["LAN-7004-09"].amount_paise == 245_010
    assert bills["LAN-7002-03"].due_date == dt.date(2026, 11, 10)
    assert bills["LAN-7003-01"].due_date == dt.date(2026, 11, 20)
    assert bills["LAN-7003-01"].loan_account_number == "7003"
    assert mobiles(session)["CUST7001"] == "9876543210"


def test_the_reader_process_reads_the_sheet_named(runner, session, reader_process):
    result = upload(runner, SAMPLES / "lender_export.xlsx", "--sheet", "Demand Dec")

    assert result.exit_code == 0, result.output
    assert sorted(stored(session)) == ["LAN-7001-06"]


def test_refusals_from_the_reader_process_name_the_same_lines(runner, monkeypatch):
    in_this_process = upload(runner, SAMPLES / "refusals.xlsx")
    monkeypatch.setattr(xlsx, "READER_PROCESS_BYTES", 0)

    in_reader_process = upload(runner, SAMPLES / "refusals.xlsx")

    assert in_reader_process.exit_code == in_this_process.exit_code == 1
    assert in_reader_process.stderr.count("rejected: line ") == 7
    assert in_reader_process.output == in_this_process.output


def test_a_reader_process_that_dies_stops_the_upload_in_one_line_with_nothing_written(runner, session, monkeypatch):
    def dying(source):
        return [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]

    monkeypatch.setattr(xlsx, "READER_PROCESS_BYTES", 0)
    monkeypatch.setattr(xlsx.XlsxSource, "_reader_command", dying)

    result = upload(runner, SAMPLES / "lender_export.xlsx")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: lender_export.xlsx: the process reading the workbook was killed by signal 9 before the end of the "
        "sheet\n"
    )
    assert stored(session) == {}
    session.expire_all()
    [failed] = session.scalars(sa.select(BillUpload))
    assert failed.state == BillUploadState.FAILED
    assert "killed by signal 9" in failed.error
