"""``biller-server payments export``: one CSV row per payment for the lender's loan management system."""

import csv
import datetime as dt
import io

from biller_server.cli import cli
from biller_server.clients.base import Outcome
from biller_server.domain.payments.export import COLUMNS, export_rows
from biller_server.domain.payments.outcomes import apply_payment_outcome
from biller_server.persistence.models import Channel, PaymentStatus
from tests.factories import BillFactory, CustomerFactory, PaymentFactory, ReceiptFactory

PAID = dt.datetime(2026, 11, 2, 4, 0, tzinfo=dt.UTC)  # 09:30 IST
CONFIRMED_AT = dt.datetime(2026, 11, 2, 4, 10, tzinfo=dt.UTC)


def _export(app, *args):
    result = app.test_cli_runner().invoke(cli, ["payments", "export", *args])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def _confirmed_payment(session):
    customer = CustomerFactory(lender_customer_id="AY1234", name="Asha Yadav")
    bill = BillFactory(
        customer=customer, partner_bill_id="BILL-NOV-1", loan_account_number="LAN0001", amount_paise=125_050
    )
    payment = PaymentFactory(
        bill=bill,
        channel=Channel.DIGILEDGE,
        partner_txn_ref="DLREF0001",
        customer_txn_ref="UPI-778899",
        amount_paise=125_050,
        paid_at=PAID,
    )
    ReceiptFactory(payment=payment, receipt_number="R-0000000042", issued_at=PAID)
    apply_payment_outcome(
        session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="digiledge:check", now=CONFIRMED_AT
    )
    session.flush()
    return payment


def test_columns_and_one_rows_values(app, session):
    payment = _confirmed_payment(session)

    rows = _export(app, "--from", "2026-11-02", "--to", "2026-11-02")

    assert (
        tuple(rows[0].keys())
        == COLUMNS
        == (
            "payment_id",
            "paid_at",
            "paid_on_ist",
            "channel",
            "partner_txn_ref",
            "customer_txn_ref",
            "partner_bill_ref",
            "partner_bill_id",
            "loan_account_number",
            "lender_customer_id",
            "customer_name",
            "bill_amount",
            "amount",
            "status",
            "status_at",
            "status_reason",
            "applied_to_bill",
            "flagged",
            "flag_reason",
            "receipt_number",
            "receipt_issued_at",
        )
    )
    assert rows == [
        {
            "payment_id": str(payment.id),
            "paid_at": "2026-11-02T04:00:00+00:00",
            "paid_on_ist": "2026-11-02",
            "channel": "digiledge",
            "partner_txn_ref": "DLREF0001",
            "customer_txn_ref": "UPI-778899",
            "partner_bill_ref": "",
            "partner_bill_id": "BILL-NOV-1",
            "loan_account_number": "LAN0001",
            "lender_customer_id": "AY1234",
            "customer_name": "Asha Yadav",
            "bill_amount": "1250.50",
            "amount": "1250.50",
            "status": "CONFIRMED",
            "status_at": "2026-11-02T04:10:00+00:00",
            "status_reason": "",
            "applied_to_bill": "yes",
            "flagged": "no",
            "flag_reason": "",
            "receipt_number": "R-0000000042",
            "receipt_issued_at": "2026-11-02T04:00:00+00:00",
        }
    ]


def test_the_range_is_whole_days_in_india_and_rows_come_in_payment_time_order(app, session):
    day_starts = dt.datetime(2026, 11, 1, 18, 30, tzinfo=dt.UTC)  # 2026-11-02 00:00 IST
    before = PaymentFactory(partner_txn_ref="BEFORE", paid_at=day_starts - dt.timedelta(seconds=1))
    last = PaymentFactory(partner_txn_ref="LAST", paid_at=day_starts + dt.timedelta(days=2, seconds=-1))
    first = PaymentFactory(partner_txn_ref="FIRST", paid_at=day_starts, status=PaymentStatus.FAILED)
    after = PaymentFactory(partner_txn_ref="AFTER", paid_at=day_starts + dt.timedelta(days=2))
    session.flush()

    rows = _export(app, "--from", "2026-11-02", "--to", "2026-11-03", "--format", "csv")

    assert [row["partner_txn_ref"] for row in rows] == ["FIRST", "LAST"]
    assert [row["paid_on_ist"] for row in rows] == ["2026-11-02", "2026-11-03"]
    assert rows[0]["status"] == "FAILED" and rows[0]["receipt_number"] == ""
    assert {before.id, after.id}.isdisjoint({int(row["payment_id"]) for row in rows})
    # LAST was made before FIRST, so it has the smaller id: the rows follow the payment time, not the id.
    assert last.id < first.id
    assert [int(row["payment_id"]) for row in rows] == [first.id, last.id]


def test_pages_follow_each_other_without_gaps_or_repeats(bound_sessionmaker, session):
    same_time = [PaymentFactory(paid_at=PAID) for _ in range(5)]
    later = [PaymentFactory(paid_at=PAID + dt.timedelta(minutes=n)) for n in range(1, 4)]
    session.flush()

    rows = list(
        export_rows(
            sessions=bound_sessionmaker,
            starts_at=PAID - dt.timedelta(hours=1),
            ends_at=PAID + dt.timedelta(hours=1),
            page_size=2,
        )
    )

    assert [int(row[0]) for row in rows] == [p.id for p in same_time] + [p.id for p in later]


def test_to_before_from_is_refused(app):
    result = app.test_cli_runner().invoke(cli, ["payments", "export", "--from", "2026-11-03", "--to", "2026-11-02"])

    assert result.exit_code == 2
    assert "--to is before --from" in result.output


def test_partner_text_reaches_the_csv_file_guarded_against_formulas(app, session):
    customer = CustomerFactory(name='=HYPERLINK("http://evil.example","Asha")')
    bill = BillFactory(customer=customer, amount_paise=50_000)
    PaymentFactory(
        bill=bill, partner_txn_ref="+REF1", amount_paise=50_000, paid_at=PAID, status_reason="-1+1", flag_reason=None
    )
    session.flush()

    [row] = _export(app, "--from", "2026-11-02", "--to", "2026-11-02")

    assert row["customer_name"] == '\'=HYPERLINK("http://evil.example","Asha")'
    assert (row["partner_txn_ref"], row["status_reason"], row["flag_reason"]) == ("'+REF1", "'-1+1", "")
    assert (row["bill_amount"], row["amount"]) == ("500.00", "500.00")
