"""Uploading bills into the books: rules across rows, idempotence, conflicts, dry runs (SQLite and PostgreSQL)."""

import contextlib
import csv
import datetime as dt
import fcntl
import io
from typing import NamedTuple

import pytest
import sqlalchemy as sa

from biller_server.domain.upload import (
    COLUMNS,
    Conflict,
    RejectedRow,
    UploadBusy,
    UploadFileError,
    UploadReport,
    UploadSource,
    describe_change,
    open_bill_csv,
    template_csv,
    upload_bills,
)
from biller_server.domain.upload.runs import last_finished_at
from biller_server.persistence.models import (
    AmountExactness,
    Bill,
    BillStatus,
    BillUpload,
    BillUploadState,
    Customer,
    CustomerIdentifier,
)
from tests.factories import GOOD_BILL_ROW as GOOD
from tests.factories import BillFactory, CustomerFactory, PaymentFactory

TODAY = dt.date(2026, 11, 1)
NOW = dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)


def bill_row(**overrides: str) -> dict[str, str]:
    return {**GOOD, **overrides}


def csv_text(*rows: dict[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class Upload(NamedTuple):
    report: UploadReport
    problems: list[RejectedRow | Conflict]

    @property
    def messages(self) -> list[str]:
        return [str(problem) for problem in self.problems]


@pytest.fixture
def upload(session, tmp_path):
    def run(*rows: dict[str, str], content: str | bytes | None = None, **options: object) -> Upload:
        path = tmp_path / "bills.csv"
        text = csv_text(*rows) if content is None else content
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        problems: list[RejectedRow | Conflict] = []
        with open_bill_csv(path, today=TODAY) as bill_rows:
            report = upload_bills(
                session=session,
                rows=bill_rows,
                now=NOW,
                on_problem=problems.append,
                **options,  # type: ignore[arg-type]
            )
        return Upload(report, problems)

    return run


def bills(session) -> dict[str, Bill]:
    return {bill.partner_bill_id: bill for bill in session.scalars(sa.select(Bill))}


def identifiers(session, lender_customer_id: str) -> set[tuple[str, str]]:
    query = (
        sa.select(CustomerIdentifier.kind, CustomerIdentifier.value)
        .join(CustomerIdentifier.customer)
        .where(Customer.lender_customer_id == lender_customer_id)
    )
    return {(str(kind), value) for kind, value in session.execute(query)}


def test_upload_creates_customers_bills_and_their_identifiers(session, upload):
    result = upload(
        bill_row(),
        bill_row(partner_bill_id="B2", bill_name="Instalment 2 of 12", due_date="2026-12-15"),
        bill_row(
            customer_id="C2",
            customer_name="Ravi Kumar",
            mobile="",
            loan_account_number="",
            partner_bill_id="B3",
            amount="1800.50",
            amount_exactness="RANGE",
            min_amount="500",
            max_amount="1800.50",
        ),
    )

    assert result.report == UploadReport(rows=3, created=3, customers_created=2, written=True)
    assert result.problems == []
    stored = bills(session)
    assert stored["B1"].customer.lender_customer_id == "C1"
    assert stored["B1"].customer.mobile == "9876543210"
    assert (stored["B1"].amount_paise, stored["B1"].paid_paise, stored["B1"].status) == (100_000, 0, BillStatus.OPEN)
    assert stored["B1"].created_at == NOW
    assert stored["B3"].exactness == AmountExactness.RANGE
    assert (stored["B3"].min_amount_paise, stored["B3"].max_amount_paise) == (50_000, 180_050)
    assert stored["B3"].loan_account_number is None
    assert stored["B3"].customer.mobile is None
    assert identifiers(session, "C1") == {
        ("customer_id", "C1"),
        ("mobile", "9876543210"),
        ("loan_account_number", "LN1"),
    }
    assert identifiers(session, "C2") == {("customer_id", "C2")}


def test_names_with_commas_quotes_backslashes_and_newlines_arrive_intact(session, upload):
    name = 'Instalment "7", part\\2\n\\.\nसात'  # a line of just \. would end COPY data if unquoted

    upload(bill_row(bill_name=name, customer_name="D'Souza, Maria \\N"))

    bill = bills(session)["B1"]
    assert (bill.name, bill.customer.name) == (name, "D'Souza, Maria \\N")


def test_upload_same_file_twice_changes_nothing(session, upload):
    rows = [bill_row(), bill_row(customer_id="C2", customer_name="Ravi", mobile="", partner_bill_id="B2")]
    upload(*rows)
    before = [(bill.id, bill.updated_at) for bill in bills(session).values()]
    identifier_count = session.scalar(sa.select(sa.func.count()).select_from(CustomerIdentifier))

    again = upload(*rows)

    assert again.report == UploadReport(rows=2, unchanged=2, written=True)
    assert [(bill.id, bill.updated_at) for bill in bills(session).values()] == before
    assert session.scalar(sa.select(sa.func.count()).select_from(CustomerIdentifier)) == identifier_count


def test_changed_row_updates_a_bill_without_payments(session, upload):
    upload(bill_row())

    result = upload(bill_row(amount="1250.00", due_date="2026-11-20", bill_name="Instalment 1 (revised)"))

    assert result.report == UploadReport(rows=1, updated=1, written=True)
    bill = bills(session)["B1"]
    assert (bill.amount_paise, bill.due_date, bill.name) == (125_000, dt.date(2026, 11, 20), "Instalment 1 (revised)")


def test_changed_row_for_a_bill_with_a_payment_is_a_conflict_and_left_alone(session, upload):
    bill = BillFactory(partner_bill_id="B1", amount_paise=100_000, paid_paise=40_000)
    PaymentFactory(bill=bill, amount_paise=40_000)

    result = upload(bill_row(customer_id=bill.customer.lender_customer_id, amount="1250.00"))

    assert result.report.conflicts == 1
    assert result.report.written
    assert result.messages == ["line 2: bill B1 has a payment: left unchanged"]
    session.refresh(bill)
    assert bill.amount_paise == 100_000


def test_failed_payment_still_protects_its_bill(session, upload):
    bill = BillFactory(partner_bill_id="B1")
    PaymentFactory(bill=bill, status="FAILED", applied_to_bill=False)

    result = upload(bill_row(customer_id=bill.customer.lender_customer_id, amount="1250.00"))

    assert result.report.conflicts == 1


def test_row_equal_to_a_paid_bill_is_unchanged_not_a_conflict(session, upload):
    upload(bill_row())
    PaymentFactory(bill=bills(session)["B1"])

    result = upload(bill_row())

    assert result.report == UploadReport(rows=1, unchanged=1, written=True)
    assert result.problems == []


def test_changed_row_for_a_cancelled_bill_is_a_conflict(session, upload):
    upload(bill_row())
    bills(session)["B1"].status = BillStatus.CANCELLED
    session.flush()

    result = upload(bill_row(amount="1250.00"))

    assert result.report.conflicts == 1
    assert result.messages == ["line 2: bill B1 is cancelled: left unchanged"]
    assert bills(session)["B1"].amount_paise == 100_000


def test_changed_row_for_a_closed_bill_is_a_conflict(session, upload):
    upload(bill_row())
    bills(session)["B1"].status = BillStatus.CLOSED
    session.flush()

    result = upload(bill_row(amount="1250.00"))

    assert result.messages == ["line 2: bill B1 is closed: left unchanged"]
    assert (bills(session)["B1"].amount_paise, bills(session)["B1"].status) == (100_000, BillStatus.CLOSED)


def test_same_row_for_a_cancelled_bill_is_unchanged_and_it_stays_cancelled(session, upload):
    upload(bill_row())
    bills(session)["B1"].status = BillStatus.CANCELLED
    session.flush()

    result = upload(bill_row())

    assert result.report.unchanged == 1
    assert bills(session)["B1"].status == BillStatus.CANCELLED


def test_existing_customer_takes_the_files_name_and_mobile(session, upload):
    CustomerFactory(lender_customer_id="C1", name="A. Devi", mobile="9000000001")

    result = upload(bill_row())

    assert (result.report.customers_created, result.report.customers_updated) == (0, 1)
    customer = session.scalar(sa.select(Customer).where(Customer.lender_customer_id == "C1"))
    assert (customer.name, customer.mobile) == ("Asha Devi", "9876543210")
    assert identifiers(session, "C1") == {
        ("customer_id", "C1"),
        ("mobile", "9876543210"),
        ("loan_account_number", "LN1"),
    }


def test_customer_without_a_mobile_in_the_file_loses_the_old_one(session, upload):
    upload(bill_row())

    upload(bill_row(mobile=""))

    assert session.scalar(sa.select(Customer.mobile).where(Customer.lender_customer_id == "C1")) is None
    assert ("mobile", "9876543210") not in identifiers(session, "C1")


def test_bill_moved_to_another_loan_keeps_loan_identifiers_in_step(session, upload):
    upload(bill_row(), bill_row(partner_bill_id="B2", loan_account_number="LN1"))

    upload(bill_row(loan_account_number="LN9"), bill_row(partner_bill_id="B2", loan_account_number="LN1"))
    assert {value for kind, value in identifiers(session, "C1") if kind == "loan_account_number"} == {"LN1", "LN9"}

    upload(bill_row(loan_account_number="LN9"), bill_row(partner_bill_id="B2", loan_account_number="LN9"))
    assert {value for kind, value in identifiers(session, "C1") if kind == "loan_account_number"} == {"LN9"}


def test_bill_moved_to_another_customer_takes_its_loan_identifier_along(session, upload):
    upload(bill_row())

    result = upload(bill_row(customer_id="C2", customer_name="Ravi Kumar", mobile=""))

    assert result.report.updated == 1
    assert bills(session)["B1"].customer.lender_customer_id == "C2"
    assert ("loan_account_number", "LN1") not in identifiers(session, "C1")
    assert ("loan_account_number", "LN1") in identifiers(session, "C2")


def test_customer_keeps_a_loan_identifier_a_moved_bill_took_while_the_file_gives_it_a_new_bill_on_that_loan(
    session, upload
):
    upload(bill_row())

    upload(
        bill_row(customer_id="C2", customer_name="Ravi Kumar", mobile=""),
        bill_row(partner_bill_id="B5"),
    )

    assert bills(session)["B1"].customer.lender_customer_id == "C2"
    assert bills(session)["B5"].customer.lender_customer_id == "C1"
    assert ("loan_account_number", "LN1") in identifiers(session, "C1")
    assert ("loan_account_number", "LN1") in identifiers(session, "C2")


def test_reupload_gives_back_identifiers_lost_since_while_changing_an_amount(session, upload):
    upload(bill_row(), bill_row(partner_bill_id="B2"))
    session.execute(sa.delete(CustomerIdentifier).where(CustomerIdentifier.kind.in_(["mobile", "loan_account_number"])))

    upload(bill_row(amount="1100"), bill_row(partner_bill_id="B2"))

    assert identifiers(session, "C1") == {
        ("customer_id", "C1"),
        ("mobile", "9876543210"),
        ("loan_account_number", "LN1"),
    }


def test_dry_run_reports_what_would_change_and_writes_nothing(session, upload):
    upload(bill_row(), bill_row(partner_bill_id="B2"), bill_row(partner_bill_id="B3"))
    PaymentFactory(bill=bills(session)["B3"])
    before = {(bill.partner_bill_id, bill.amount_paise) for bill in bills(session).values()}

    result = upload(
        bill_row(),
        bill_row(partner_bill_id="B2", amount="1100"),
        bill_row(partner_bill_id="B3", amount="1100"),
        bill_row(customer_id="C2", customer_name="Ravi", partner_bill_id="B4"),
        dry_run=True,
    )

    assert result.report == UploadReport(
        rows=4, created=1, updated=1, unchanged=1, conflicts=1, customers_created=1, dry_run=True, written=False
    )
    assert result.messages == ["line 4: bill B3 has a payment: left unchanged"]
    assert {(bill.partner_bill_id, bill.amount_paise) for bill in bills(session).values()} == before
    assert session.scalar(sa.select(Customer).where(Customer.lender_customer_id == "C2")) is None


def test_bad_row_stops_the_whole_upload(session, upload):
    result = upload(bill_row(), bill_row(partner_bill_id="B2", amount="0"), bill_row(partner_bill_id="B3"))

    assert result.report == UploadReport(rows=3, rejected=1, stopped=True)
    assert result.messages == ["line 3: amount: '0' must be more than zero"]
    assert bills(session) == {}
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_skip_invalid_writes_the_good_rows_and_reports_the_rest(session, upload):
    result = upload(
        bill_row(),
        bill_row(partner_bill_id="B2", amount="0"),
        bill_row(partner_bill_id="B3"),
        skip_invalid=True,
    )

    assert result.report == UploadReport(rows=3, created=2, rejected=1, customers_created=1, written=True)
    assert set(bills(session)) == {"B1", "B3"}


def test_duplicate_partner_bill_id_in_the_file_rejects_the_later_row(session, upload):
    result = upload(bill_row(), bill_row(partner_bill_id="B2"), bill_row(amount="2000"), skip_invalid=True)

    assert result.messages == ["line 4: partner_bill_id: B1 is already on line 2"]
    assert result.report.rejected == 1
    assert bills(session)["B1"].amount_paise == 100_000


def test_duplicate_partner_bill_id_stops_the_upload_by_default(session, upload):
    result = upload(bill_row(), bill_row())

    assert result.report.stopped
    assert bills(session) == {}


def test_customer_with_another_name_in_the_same_file_is_rejected(session, upload):
    result = upload(bill_row(), bill_row(partner_bill_id="B2", customer_name="Asha D."))

    assert result.messages == ["line 3: customer_name: customer C1 is 'Asha Devi' on line 2"]
    assert result.report.stopped


def test_customer_with_another_mobile_in_the_same_file_is_rejected(session, upload):
    result = upload(bill_row(), bill_row(partner_bill_id="B2", mobile=""), skip_invalid=True)

    assert result.messages == ["line 3: mobile: customer C1 has 9876543210 on line 2"]
    assert set(bills(session)) == {"B1"}


def test_rows_rejected_alone_and_across_rows_are_all_reported(session, upload):
    result = upload(
        bill_row(),
        bill_row(partner_bill_id="B2", due_date="someday"),
        bill_row(),
        bill_row(partner_bill_id="B4", customer_name="Other"),
    )

    assert [problem.line for problem in result.problems] == [3, 4, 5]
    assert result.report.rejected == 3


def test_every_row_rejected_with_skip_invalid_writes_nothing_and_says_so(session, upload):
    result = upload(bill_row(amount="0"), skip_invalid=True)

    assert result.report == UploadReport(rows=1, rejected=1, written=True)
    assert bills(session) == {}


def test_unreadable_file_partway_leaves_nothing_written(session, upload):
    content = csv_text(bill_row(), bill_row(partner_bill_id="B2")).encode() + "C3,Ásha\n".encode("latin-1")

    with pytest.raises(UploadFileError, match="not UTF-8 text \\(first bad byte on line 4\\)"), session.begin_nested():
        upload(content=content)

    assert bills(session) == {}


def test_template_uploads_cleanly(session, upload):
    result = upload(content=template_csv(today=TODAY))

    assert result.report == UploadReport(rows=2, created=2, customers_created=2, written=True)


def many_customers(count: int, bills_each: int, amount: str = "1000.00") -> list[dict[str, str]]:
    return [
        bill_row(customer_id=f"C{customer}", customer_name=f"Customer {customer}", mobile=f"98{customer:08d}",
                 loan_account_number=f"L{customer}", partner_bill_id=f"C{customer}-{bill}", amount=amount)
        for customer in range(count)
        for bill in range(bills_each)
    ]  # fmt: skip


def test_upload_writes_in_batches_of_whole_customers(session, upload):
    bills_per_customer: list[dict[str, int]] = []

    def watch(done: int, total: int) -> None:
        query = (
            sa.select(Customer.lender_customer_id, sa.func.count(Bill.id))
            .join(Bill, Bill.customer_id == Customer.id)
            .group_by(Customer.lender_customer_id)
        )
        bills_per_customer.append(dict(session.execute(query).all()))

    result = upload(*many_customers(100, 3), transaction_seconds=0.000_001, on_written=watch)

    assert result.report.batches > 1
    assert result.report == UploadReport(rows=300, created=300, customers_created=100, written=True)
    # After each batch, every customer written so far has all three of its bills.
    assert len(bills_per_customer) == result.report.batches + 1
    assert all(set(counts.values()) <= {3} for counts in bills_per_customer)
    assert len(bills_per_customer[-1]) == 100


def test_a_payment_that_arrives_while_the_upload_writes_makes_its_bill_a_conflict(session, upload):
    upload(bill_row(), bill_row(partner_bill_id="B2"))

    def pay_b1(stage: str) -> None:
        if stage == "writing":  # after the check planned to update B1, before the batch writes it
            PaymentFactory(bill=bills(session)["B1"])
            session.flush()

    result = upload(bill_row(amount="1250.00"), bill_row(partner_bill_id="B2", amount="1250.00"), on_stage=pay_b1)

    assert result.report == UploadReport(rows=2, updated=1, conflicts=1, written=True)
    assert result.messages == ["line 2: bill B1 has a payment: left unchanged"]
    assert (bills(session)["B1"].amount_paise, bills(session)["B2"].amount_paise) == (100_000, 125_000)


SOURCE = UploadSource(name="bills.csv", path="/data/bills.csv", sha256="a" * 64, size=10, operator="ops@branch")


def test_an_upload_is_recorded_with_what_it_wrote(session, upload):
    result = upload(bill_row(), bill_row(partner_bill_id="B2"), source=SOURCE)

    record = session.get(BillUpload, result.report.upload_id)
    assert (record.state, record.file_name, record.operator, record.rows) == (
        BillUploadState.FINISHED, "bills.csv", "ops@branch", 2
    )  # fmt: skip
    assert (record.customers_to_write, record.customers_written, record.bills_created) == (1, 1, 2)
    assert record.finished_at is not None
    assert last_finished_at(session=session) == record.finished_at


def test_an_upload_stopped_by_bad_rows_is_recorded_as_refused(session, upload):
    result = upload(bill_row(amount="0"), source=SOURCE)

    [record] = session.scalars(sa.select(BillUpload))
    assert result.report.stopped
    assert (record.state, record.rejected, record.finished_at) == (BillUploadState.REFUSED, 1, None)


def test_the_same_file_after_an_interrupted_upload_finishes_it(session, upload):
    interrupted = BillUpload(
        file_name="bills.csv", file_path="/data/bills.csv", file_sha256=SOURCE.sha256, file_size=10, options={},
        operator="ops@branch", state=BillUploadState.APPLYING, started_at=NOW, customers_to_write=2,
        customers_written=1,
    )  # fmt: skip
    session.add(interrupted)
    session.flush()

    result = upload(bill_row(), source=SOURCE)

    assert result.report.resumed_id == interrupted.id
    session.refresh(interrupted)
    assert (interrupted.state, interrupted.resumed_by_id) == (BillUploadState.INTERRUPTED, result.report.upload_id)


def test_a_dry_run_is_not_recorded(session, upload):
    upload(bill_row(), source=SOURCE, dry_run=True)

    assert session.scalars(sa.select(BillUpload)).all() == []


def test_the_change_list_says_what_changed_bill_by_bill(session, upload):
    upload(bill_row(), bill_row(partner_bill_id="B2"))
    changes: list[str] = []

    upload(
        bill_row(amount="1,250.00", due_date="20/11/2026", mobile="+91 98765 00000"),
        bill_row(partner_bill_id="B2", mobile="9876500000"),
        bill_row(partner_bill_id="B3", due_date="2027-01-10", mobile="9876500000"),
        dry_run=True,
        on_change=lambda change: changes.append(describe_change(change)),
    )

    assert changes == [
        "customer C1 mobile 9876543210 → 9876500000",
        "B1 amount 1,000.00 → 1,250.00, due 15/11 → 20/11",
        "B3 new: 1,000.00 due 10/01/2027 (C1, Instalment 1 of 12)",
    ]


def test_a_second_upload_while_one_writes_is_refused_naming_it(session, upload, engine):
    running = BillUpload(
        file_name="morning.csv", file_path="/data/morning.csv", file_sha256="b" * 64, file_size=10, options={},
        operator="ops@branch", state=BillUploadState.APPLYING, started_at=NOW,
    )  # fmt: skip
    session.add(running)
    session.flush()
    with holding_the_upload_lock(engine), pytest.raises(UploadBusy) as refused:
        upload(bill_row())

    assert str(refused.value) == (
        f"another bill upload is writing to this database (#{running.id}, morning.csv, by ops@branch): "
        "wait for it to finish"
    )
    assert bills(session) == {}


@contextlib.contextmanager
def holding_the_upload_lock(engine):
    """What another upload process holds while it writes."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_advisory_lock(hashtext('biller_server.bill_upload'))"))
            yield
            other.execute(sa.text("SELECT pg_advisory_unlock(hashtext('biller_server.bill_upload'))"))
            other.rollback()
        return
    with open(engine.url.database + ".upload-lock", "a+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        yield
