import datetime as dt

import pytest

from biller_server.domain.billing.bills import (
    BillHasPayments,
    BillNotClosable,
    BillNotFound,
    cancel_bill,
    close_bill,
    list_bills,
)
from biller_server.persistence.models import BillStatus
from tests.factories import BillFactory, CustomerFactory, PaymentFactory


def test_list_bills_orders_by_due_date(session):
    later = BillFactory(due_date=dt.date(2026, 12, 15))
    sooner = BillFactory(due_date=dt.date(2026, 11, 15))

    assert list_bills(session=session) == [sooner, later]


def test_list_bills_of_one_customer(session):
    customer = CustomerFactory(lender_customer_id="C1")
    mine = BillFactory(customer=customer)
    BillFactory()

    assert list_bills(session=session, customer_id="C1") == [mine]


def test_list_bills_in_one_status(session):
    BillFactory()
    cancelled = BillFactory(status=BillStatus.CANCELLED)

    assert list_bills(session=session, status=BillStatus.CANCELLED) == [cancelled]


def test_list_bills_stops_at_the_limit(session):
    for _ in range(3):
        BillFactory()

    assert len(list_bills(session=session, limit=2)) == 2


def test_cancel_bill_takes_it_out_of_the_open_bills(session):
    bill = BillFactory(partner_bill_id="B1")

    cancel_bill(session=session, partner_bill_id="B1")

    assert bill.status == BillStatus.CANCELLED
    assert list_bills(session=session, status=BillStatus.OPEN) == []


def test_cancel_bill_twice_is_harmless(session):
    BillFactory(partner_bill_id="B1", status=BillStatus.CANCELLED)

    assert cancel_bill(session=session, partner_bill_id="B1").status == BillStatus.CANCELLED


def test_cancel_bill_with_a_payment_is_refused(session):
    bill = BillFactory(partner_bill_id="B1")
    PaymentFactory(bill=bill)

    with pytest.raises(BillHasPayments, match="bill B1 has a payment and cannot be cancelled"):
        cancel_bill(session=session, partner_bill_id="B1")
    assert bill.status == BillStatus.OPEN


def test_cancel_unknown_bill_is_refused(session):
    with pytest.raises(BillNotFound, match="no bill with partner_bill_id 'NOPE'"):
        cancel_bill(session=session, partner_bill_id="NOPE")


NOW = dt.datetime(2026, 11, 12, 5, 0, tzinfo=dt.UTC)


def test_close_bill_keeps_its_payments_and_says_why_and_when(session):
    bill = BillFactory(partner_bill_id="B1", amount_paise=100_000, paid_paise=40_000, status=BillStatus.PARTIALLY_PAID)
    payment = PaymentFactory(bill=bill, amount_paise=40_000)

    close_bill(session=session, partner_bill_id="B1", reason="  foreclosed   12/11 ", now=NOW)

    assert (bill.status, bill.closed_reason, bill.closed_at) == (BillStatus.CLOSED, "foreclosed 12/11", NOW)
    assert (bill.paid_paise, payment.bill_id) == (40_000, bill.id)


def test_close_bill_twice_keeps_the_first_reason(session):
    BillFactory(partner_bill_id="B1")
    close_bill(session=session, partner_bill_id="B1", reason="written off", now=NOW)

    bill = close_bill(session=session, partner_bill_id="B1", reason="another", now=NOW + dt.timedelta(days=1))

    assert (bill.closed_reason, bill.closed_at) == ("written off", NOW)


@pytest.mark.parametrize(
    ("values", "reason", "message"),
    [
        ({"status": BillStatus.CANCELLED}, "x", "bill B1 is cancelled; there is nothing to close"),
        ({"status": BillStatus.PAID, "paid_paise": 100_000}, "x", "bill B1 is paid in full; there is nothing to close"),
        ({}, "  ", "give the reason the bill is closed"),
        ({}, "x" * 201, "the reason is 201 characters long; at most 200 fit"),
    ],
)
def test_close_bill_is_refused_when_there_is_nothing_to_close_or_no_reason(session, values, reason, message):
    BillFactory(partner_bill_id="B1", amount_paise=100_000, **values)

    with pytest.raises(BillNotClosable, match=message):
        close_bill(session=session, partner_bill_id="B1", reason=reason, now=NOW)


def test_a_closed_bill_cannot_be_cancelled(session):
    BillFactory(partner_bill_id="B1", status=BillStatus.CLOSED, closed_reason="written off")

    with pytest.raises(BillNotClosable, match=r"bill B1 is closed \(written off\) and cannot be cancelled"):
        cancel_bill(session=session, partner_bill_id="B1")


def test_close_of_an_unknown_bill_is_refused(session):
    with pytest.raises(BillNotFound):
        close_bill(session=session, partner_bill_id="NOPE", reason="x", now=NOW)
