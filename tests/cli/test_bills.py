"""``biller-server bills``: what an operator sees, and the exit codes scripts rely on."""

import csv
import datetime as dt
import io
import json
import re

import pytest
import sqlalchemy as sa

from biller_server.cli import bills as bills_cli
from biller_server.cli import cli
from biller_server.domain.upload import COLUMNS
from biller_server.persistence.models import Bill, BillStatus, BillUpload
from tests.factories import GOOD_BILL_ROW as GOOD
from tests.factories import BillFactory, CustomerFactory, PaymentFactory

pytestmark = pytest.mark.usefixtures("bills_today")


@pytest.fixture
def bills_file(tmp_path):
    def write(*rows: dict[str, str], content: str | bytes | None = None) -> str:
        path = tmp_path / "bills.csv"
        if content is None:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            content = buffer.getvalue()
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return str(path)

    return write


def bill_ids(session) -> set[str]:
    return set(session.scalars(sa.select(Bill.partner_bill_id)))


def test_upload_writes_the_file_and_prints_a_summary(runner, bills_file, session):
    result = runner.invoke(cli, ["bills", "upload", bills_file(GOOD, {**GOOD, "partner_bill_id": "B2"})])

    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        r"Bills: 2 created, 0 updated, 0 unchanged, 0 conflicts, 0 rejected \(of 2 rows\)\. "
        r"Customers: 1 created, 0 updated\. Upload #\d+\.\n",
        result.stdout,
    )
    assert bill_ids(session) == {"B1", "B2"}
    assert session.scalars(sa.select(BillUpload.file_name)).all() == ["bills.csv"]  # its time is watched


def test_a_dry_run_leaves_no_upload_record(runner, bills_file, session):
    assert runner.invoke(cli, ["bills", "upload", "--dry-run", bills_file(GOOD)]).exit_code == 0

    assert session.scalar(sa.select(sa.func.count()).select_from(BillUpload)) == 0


def test_upload_same_file_twice_reports_everything_unchanged(runner, bills_file):
    path = bills_file(GOOD)
    runner.invoke(cli, ["bills", "upload", path])

    result = runner.invoke(cli, ["bills", "upload", path])

    assert result.exit_code == 0
    assert "Bills: 0 created, 0 updated, 1 unchanged" in result.stdout


def test_upload_with_bad_rows_lists_them_writes_nothing_and_fails(runner, bills_file, session):
    path = bills_file(GOOD, {**GOOD, "partner_bill_id": "B2", "amount": "0"}, {**GOOD, "partner_bill_id": "B1"})

    result = runner.invoke(cli, ["bills", "upload", path])

    assert result.exit_code == 1
    assert result.stderr == (
        "rejected: line 3: amount: '0' must be more than zero\n"
        "rejected: line 4: partner_bill_id: B1 is already on line 2\n"
    )
    assert result.stdout == (
        "Nothing written: 2 of 3 rows rejected. Fix them, or use --skip-invalid to write the other rows.\n"
    )
    assert bill_ids(session) == set()


def test_upload_skip_invalid_writes_the_good_rows_and_succeeds(runner, bills_file, session):
    path = bills_file(GOOD, {**GOOD, "partner_bill_id": "B2", "amount": "0"})

    result = runner.invoke(cli, ["bills", "upload", "--skip-invalid", path])

    assert result.exit_code == 0
    assert "rejected: line 3" in result.stderr
    assert "Bills: 1 created, 0 updated, 0 unchanged, 0 conflicts, 1 rejected (of 2 rows)" in result.stdout
    assert bill_ids(session) == {"B1"}


def test_upload_reports_a_conflict_on_a_paid_bill(runner, bills_file):
    customer = CustomerFactory(lender_customer_id="C1", name="Asha Devi", mobile="9876543210")
    PaymentFactory(bill=BillFactory(customer=customer, partner_bill_id="B1"))

    result = runner.invoke(cli, ["bills", "upload", bills_file({**GOOD, "amount": "5000"})])

    assert result.exit_code == 0
    assert result.stderr == "conflict: line 2: bill B1 has a payment: left unchanged\n"
    assert "1 conflicts" in result.stdout


def test_upload_dry_run_says_what_would_happen_and_writes_nothing(runner, bills_file, session):
    result = runner.invoke(cli, ["bills", "upload", "--dry-run", bills_file(GOOD)])

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "customer C1 new: Asha Devi, mobile 9876543210",
        "B1 new: 1,000.00 due 15/11/2026 (C1, Instalment 1 of 12)",
        "Dry run, nothing written; the upload would give: Bills: 1 created, 0 updated, 0 unchanged, 0 conflicts, "
        "0 rejected (of 1 rows). Customers: 1 created, 0 updated.",
    ]
    assert bill_ids(session) == set()


def test_upload_dry_run_with_bad_rows_fails_like_the_upload_would(runner, bills_file):
    result = runner.invoke(cli, ["bills", "upload", "--dry-run", bills_file({**GOOD, "amount": "0"})])

    assert result.exit_code == 1
    assert result.stdout.startswith("Dry run: the upload would write nothing: 1 of 1 rows rejected.")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (",".join(GOOD.values()).encode("latin-1"), "bills.csv: no column for customer_id, customer_name, mobile"),
        ("é".join(GOOD).encode("latin-1"), "is not UTF-8 text (first bad byte on line 1)"),
        (b"", "bills.csv is empty"),
        (",".join(COLUMNS).encode() + b"\n", "bills.csv has a header but no bills"),
    ],
    ids=["missing-header", "wrong-encoding", "empty", "header-only"],
)
def test_upload_of_a_malformed_file_fails_with_one_line_and_no_traceback(runner, bills_file, content, message):
    result = runner.invoke(cli, ["bills", "upload", bills_file(content=content)])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_upload_of_a_file_with_ragged_rows_names_each_and_fails(runner, bills_file, session):
    path = bills_file(content=",".join(COLUMNS) + "\n" + ",".join(GOOD.values()) + "\nC2,Ravi,,LN2\nC3\n")

    result = runner.invoke(cli, ["bills", "upload", path])

    assert result.exit_code == 1
    assert result.stderr == (
        "rejected: line 3: has 4 fields; the header has 12\nrejected: line 4: has 1 fields; the header has 12\n"
    )
    assert bill_ids(session) == set()


def test_upload_of_a_missing_file_fails_clearly(runner, tmp_path):
    result = runner.invoke(cli, ["bills", "upload", str(tmp_path / "nope.csv")])

    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_upload_shows_a_progress_bar_only_on_a_terminal(runner, bills_file, monkeypatch):
    path = bills_file(GOOD)
    assert "Reading and checking" not in runner.invoke(cli, ["bills", "upload", path]).stderr

    monkeypatch.setattr(bills_cli, "_on_terminal", lambda: True)
    shown = runner.invoke(cli, ["bills", "upload", path]).stderr

    assert "Reading and checking" in shown
    assert "Writing (customers)" not in shown  # a second upload of the same file has nothing to write
    assert (
        "Writing (customers)"
        in runner.invoke(cli, ["bills", "upload", bills_file(GOOD, {**GOOD, "partner_bill_id": "B2"})]).stderr
    )


def test_template_uploads_as_it_is(runner, tmp_path, session):
    template = runner.invoke(cli, ["bills", "template"])
    assert template.exit_code == 0
    path = tmp_path / "template.csv"
    path.write_text(template.stdout)

    result = runner.invoke(cli, ["bills", "upload", str(path)])

    assert result.exit_code == 0, result.output
    assert "Bills: 2 created" in result.stdout
    assert template.stdout.splitlines()[0] == ",".join(COLUMNS)
    assert len(bill_ids(session)) == 2


def test_list_shows_a_table_of_bills(runner):
    customer = CustomerFactory(lender_customer_id="C1")
    BillFactory(
        customer=customer,
        partner_bill_id="B1",
        name="November instalment",
        amount_paise=245_000,
        paid_paise=45_000,
        due_date=dt.date(2026, 11, 15),
        status=BillStatus.PARTIALLY_PAID,
    )

    result = runner.invoke(cli, ["bills", "list"])

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "partner bill id  customer  name                   amount   balance  due         exactness  status",
        "---------------  --------  -------------------  --------  --------  ----------  ---------  --------------",
        "B1               C1        November instalment  2,450.00  2,000.00  2026-11-15  EXACT      PARTIALLY_PAID",
    ]


def test_list_as_csv_and_json_gives_plain_amounts(runner):
    BillFactory(
        customer=CustomerFactory(lender_customer_id="C1"),
        partner_bill_id="B1",
        amount_paise=125_000_050,
        due_date=dt.date(2026, 11, 15),
    )

    as_csv = runner.invoke(cli, ["bills", "list", "--format", "csv"]).stdout
    as_json = json.loads(runner.invoke(cli, ["bills", "list", "--format", "json"]).stdout)

    assert as_csv.splitlines()[0] == "partner_bill_id,customer,name,amount,balance,due,exactness,status"
    assert as_csv.splitlines()[1].startswith("B1,C1,")
    assert ",1250000.50,1250000.50,2026-11-15," in as_csv
    assert as_json[0]["amount"] == "1250000.50" and as_json[0]["due"] == "2026-11-15"


def test_list_filters_by_customer_status_and_limit(runner):
    BillFactory(customer=CustomerFactory(lender_customer_id="C1"), partner_bill_id="B1")
    BillFactory(customer=CustomerFactory(lender_customer_id="C2"), partner_bill_id="B2")
    BillFactory(partner_bill_id="B3", status=BillStatus.CANCELLED)

    def listed(*options: str) -> list[str]:
        output = runner.invoke(cli, ["bills", "list", *options]).stdout
        return [line.split()[0] for line in output.splitlines()[2:]]

    assert listed("--customer", "C2") == ["B2"]
    assert listed("--status", "cancelled") == ["B3"]
    assert len(listed("--limit", "2")) == 2


def test_list_without_matches_says_so(runner):
    result = runner.invoke(cli, ["bills", "list", "--customer", "NOBODY"])

    assert (result.exit_code, result.stdout) == (0, "No bills.\n")


def test_cancel_takes_a_bill_out_of_bbps(runner, session):
    bill = BillFactory(partner_bill_id="B1")

    result = runner.invoke(cli, ["bills", "cancel", "B1"])

    assert (result.exit_code, result.stdout) == (0, "Bill B1 is cancelled.\n")
    session.refresh(bill)
    assert bill.status == BillStatus.CANCELLED


def test_cancel_refuses_a_bill_with_a_payment(runner, session):
    bill = BillFactory(partner_bill_id="B1")
    PaymentFactory(bill=bill)

    result = runner.invoke(cli, ["bills", "cancel", "B1"])

    assert result.exit_code == 1
    assert result.stderr == "Error: bill B1 has a payment and cannot be cancelled\n"
    session.refresh(bill)
    assert bill.status == BillStatus.OPEN


def test_cancel_of_an_unknown_bill_fails_clearly(runner):
    result = runner.invoke(cli, ["bills", "cancel", "NOPE"])

    assert result.exit_code == 1
    assert result.stderr == "Error: no bill with partner_bill_id 'NOPE'\n"


def test_bills_help_lists_the_commands(runner):
    result = runner.invoke(cli, ["bills", "--help"])

    for command in ("upload", "template", "list", "cancel"):
        assert f"  {command} " in result.output
