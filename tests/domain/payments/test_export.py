"""The payments export never hands a spreadsheet a formula: text from partners and the lender is guarded."""

import datetime as dt

import pytest

from biller_server.domain.payments.export import COLUMNS, export_rows, spreadsheet_safe
from biller_server.persistence.models import PaymentStatus
from tests.factories import BillFactory, CustomerFactory, PaymentFactory, ReceiptFactory

PAID = dt.datetime(2026, 11, 2, 4, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+91 98765 43210", "'+91 98765 43210"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Asha Yadav", "Asha Yadav"),
        ("DLREF0001", "DLREF0001"),
        ("a=b", "a=b"),  # only the first character matters
        ("", ""),
    ],
)
def test_a_cell_starting_like_a_formula_gets_a_leading_quote(text, shown):
    assert spreadsheet_safe(text) == shown


def test_every_text_cell_from_outside_is_guarded_and_ours_are_left_alone(bound_sessionmaker, session):
    customer = CustomerFactory(lender_customer_id="@CUST", name="=cmd|' /C calc'!A0")
    bill = BillFactory(customer=customer, partner_bill_id="+BILL", loan_account_number="\tLAN", amount_paise=125_050)
    payment = PaymentFactory(
        bill=bill,
        partner_txn_ref="-REF",
        customer_txn_ref="\rUPI",
        partner_bill_ref="=15",
        amount_paise=125_050,
        paid_at=PAID,
        status=PaymentStatus.UNRESOLVED,
        status_reason='=IMPORTXML("http://evil", "//a")',
        flagged=True,
        flag_reason="@partner said failed",
    )
    ReceiptFactory(payment=payment, receipt_number="R-0000000042", issued_at=PAID)
    session.flush()

    [row] = export_rows(
        sessions=bound_sessionmaker, starts_at=PAID - dt.timedelta(hours=1), ends_at=PAID + dt.timedelta(hours=1)
    )
    cells = dict(zip(COLUMNS, row, strict=True))

    assert {name: cells[name] for name in cells if cells[name].startswith("'")} == {
        "partner_txn_ref": "'-REF",
        "customer_txn_ref": "'\rUPI",
        "partner_bill_ref": "'=15",
        "partner_bill_id": "'+BILL",
        "loan_account_number": "'\tLAN",
        "lender_customer_id": "'@CUST",
        "customer_name": "'=cmd|' /C calc'!A0",
        "status_reason": '\'=IMPORTXML("http://evil", "//a")',
        "flag_reason": "'@partner said failed",
    }
    assert (cells["bill_amount"], cells["amount"]) == ("1250.50", "1250.50")  # ours, numeric: as they are
    assert (cells["payment_id"], cells["status"], cells["receipt_number"]) == (
        str(payment.id),
        "UNRESOLVED",
        "R-0000000042",
    )
