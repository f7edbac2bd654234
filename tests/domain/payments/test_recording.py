"""record_payment's two ways with a payment the books would refuse: refuse it (a payment not yet taken), or record
and flag it (``on_unpayable="flag"``: a payment the partner has already taken, Setu's)."""

import datetime as dt

import pytest

from biller_server.domain.errors import AmountNotAllowed, BillNotFound
from biller_server.domain.payments.recording import PaymentRequest, record_payment
from biller_server.persistence.models import AmountExactness, BillStatus, Channel
from tests.factories import BillFactory

NOW = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)


def request(bill, amount_paise, reference="UPR-1"):
    return PaymentRequest(
        channel=Channel.SETU, partner_txn_ref=reference, partner_bill_id=bill.partner_bill_id, amount_paise=amount_paise
    )


def test_an_amount_outside_the_range_is_refused_by_default(session):
    bill = BillFactory(exactness=AmountExactness.RANGE, min_amount_paise=10_000, max_amount_paise=50_000)

    with pytest.raises(AmountNotAllowed):
        record_payment(session=session, request=request(bill, 60_000), confirm_with=None, now=NOW)


def test_flagged_an_amount_outside_the_range_is_recorded_receipted_and_flagged(session):
    bill = BillFactory(
        amount_paise=100_000, exactness=AmountExactness.RANGE, min_amount_paise=10_000, max_amount_paise=50_000
    )

    recorded = record_payment(
        session=session, request=request(bill, 60_000), confirm_with="setu", now=NOW, on_unpayable="flag"
    )

    assert recorded.receipt is not None
    assert recorded.payment.flagged is True
    assert recorded.payment.flag_reason.startswith("incorrect-amount")
    assert (bill.paid_paise, bill.status) == (60_000, BillStatus.PARTIALLY_PAID)
    assert recorded.payment.events[0].detail["flag_reason"] == recorded.payment.flag_reason


def test_flagged_an_overpayment_leaves_the_balance_at_zero_and_the_excess_visible(session):
    bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)

    recorded = record_payment(
        session=session, request=request(bill, 100_000), confirm_with=None, now=NOW, on_unpayable="flag"
    )

    assert recorded.payment.flag_reason.startswith("bill-already-fulfilled")
    assert (bill.paid_paise, bill.balance_paise, bill.status) == (200_000, 0, BillStatus.PAID)


def test_flag_mode_still_refuses_an_unknown_bill(session):
    with pytest.raises(BillNotFound):
        record_payment(
            session=session,
            request=PaymentRequest(
                channel=Channel.SETU, partner_txn_ref="UPR-9", partner_bill_id="NO-SUCH", amount_paise=100
            ),
            confirm_with=None,
            now=NOW,
            on_unpayable="flag",
        )
