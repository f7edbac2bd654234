import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.domain.errors import AmountNotAllowed, BillNotFound, DomainError
from biller_server.domain.payments.offline import record_offline_payment
from biller_server.persistence.models import (
    BillStatus,
    Channel,
    ChannelBillReference,
    Job,
    JobKind,
    Payment,
    PaymentStatus,
)
from tests.factories import BillFactory

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def test_offline_payment_reduces_the_balance_and_queues_one_posting(session):
    bill = BillFactory(partner_bill_id="LOAN-7", amount_paise=100_000)

    recorded = record_offline_payment(
        session=session,
        partner_bill_id="LOAN-7",
        amount_paise=100_000,
        transaction_id="CASH-0001",
        paid_on=dt.date(2026, 11, 1),
        system_bill_id="19",
        now=NOW,
    )

    payment = recorded.payment
    assert (payment.channel, payment.status, payment.partner_bill_ref) == (
        Channel.OFFLINE,
        PaymentStatus.RECEIVED,
        "19",
    )
    assert payment.paid_at == dt.datetime(2026, 10, 31, 18, 30, tzinfo=dt.UTC)  # 1 Nov 00:00 IST
    assert (bill.paid_paise, bill.status) == (100_000, BillStatus.PAID)
    assert recorded.receipt.receipt_number
    job = recorded.job
    assert (job.kind, job.partner, job.payload) == (
        JobKind.RECORD_OFFLINE_PAYMENT,
        "kaleidofin",
        {"system_bill_id": "19", "post_attempted_at": None},
    )


def test_offline_payment_recorded_twice_queues_nothing_more(session):
    BillFactory(partner_bill_id="LOAN-8", amount_paise=100_000, exactness="ANY")
    values = dict(
        partner_bill_id="LOAN-8",
        amount_paise=10_000,
        transaction_id="CASH-0002",
        paid_on=dt.date(2026, 11, 1),
        system_bill_id="20",
        now=NOW,
    )
    first = record_offline_payment(session=session, **values)

    again = record_offline_payment(session=session, **values)

    assert again.replayed is True
    assert again.payment.id == first.payment.id
    assert again.job is None
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


def test_offline_payment_uses_the_system_bill_id_kaleidofin_told_us(session):
    bill = BillFactory(partner_bill_id="LOAN-9")
    session.add(ChannelBillReference(channel=Channel.KALEIDOFIN, partner_bill_ref="77", bill_id=bill.id))
    session.flush()

    recorded = record_offline_payment(
        session=session,
        partner_bill_id="LOAN-9",
        amount_paise=bill.amount_paise,
        transaction_id="CASH-0003",
        paid_on=dt.date(2026, 11, 1),
        system_bill_id=None,
        now=NOW,
    )

    assert recorded.job.payload["system_bill_id"] == "77"


def test_offline_payment_follows_the_bill_rules(session):
    BillFactory(partner_bill_id="LOAN-10", amount_paise=100_000)

    with pytest.raises(AmountNotAllowed):
        record_offline_payment(
            session=session,
            partner_bill_id="LOAN-10",
            amount_paise=5_000,
            transaction_id="CASH-0004",
            paid_on=dt.date(2026, 11, 1),
            system_bill_id="1",
            now=NOW,
        )
    with pytest.raises(BillNotFound):
        record_offline_payment(
            session=session,
            partner_bill_id="NOPE",
            amount_paise=5_000,
            transaction_id="CASH-0005",
            paid_on=dt.date(2026, 11, 1),
            system_bill_id="1",
            now=NOW,
        )


def _bbps_payment_on_system_bill(session, bill, system_bill_id):
    from biller_server.domain.payments.recording import PaymentRequest, record_payment

    return record_payment(
        session=session,
        request=PaymentRequest(
            channel=Channel.KALEIDOFIN,
            partner_txn_ref=f"K-{system_bill_id}",
            partner_bill_id=bill.partner_bill_id,
            amount_paise=40_000,
            partner_bill_ref=system_bill_id,
        ),
        confirm_with=None,
        now=NOW,
    ).payment


def test_offline_payment_never_reuses_a_system_bill_id_that_carries_a_bbps_payment(session):
    bill = BillFactory(partner_bill_id="LOAN-11", amount_paise=100_000, exactness="ANY")
    _bbps_payment_on_system_bill(session, bill, "14")  # Kaleidofin's fetchReceipt told us of systemBill 14

    recorded = record_offline_payment(
        session=session,
        partner_bill_id="LOAN-11",
        amount_paise=60_000,
        transaction_id="CASH-0006",
        paid_on=dt.date(2026, 11, 1),
        system_bill_id=None,
        now=NOW,
    )

    assert recorded.payment.partner_bill_ref is None  # the worker looks for an open bill with Fetch Bills
    assert recorded.job.payload == {"system_bill_id": None, "post_attempted_at": None}


def test_offline_payment_uses_a_known_system_bill_id_that_carries_no_payment(session):
    bill = BillFactory(partner_bill_id="LOAN-12", amount_paise=100_000, exactness="ANY")
    _bbps_payment_on_system_bill(session, bill, "30")
    session.add(ChannelBillReference(channel=Channel.KALEIDOFIN, partner_bill_ref="31", bill_id=bill.id))
    session.flush()

    recorded = record_offline_payment(
        session=session,
        partner_bill_id="LOAN-12",
        amount_paise=60_000,
        transaction_id="CASH-0007",
        paid_on=dt.date(2026, 11, 1),
        system_bill_id=None,
        now=NOW,
    )

    assert recorded.payment.partner_bill_ref == "31"


def test_offline_payment_refuses_a_given_system_bill_id_that_carries_another_payment(session):
    bill = BillFactory(partner_bill_id="LOAN-13", amount_paise=100_000, exactness="ANY")
    _bbps_payment_on_system_bill(session, bill, "40")
    session.flush()

    with pytest.raises(DomainError, match="systemBillId 40 already carries another payment") as raised:
        record_offline_payment(
            session=session,
            partner_bill_id="LOAN-13",
            amount_paise=60_000,
            transaction_id="CASH-0008",
            paid_on=dt.date(2026, 11, 1),
            system_bill_id="40",
            now=NOW,
        )

    assert raised.value.code == "system-bill-id-in-use"
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert (bill.paid_paise, session.scalar(sa.select(sa.func.count()).select_from(Payment))) == (40_000, 1)
