import datetime as dt

import pytest

from biller_server.domain.billing.bills import BillHasPayments, BillNotFound, cancel_bill, list_bills
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
