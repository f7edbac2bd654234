"""The overpayment guard in ``record_payment``: every channel's payments pass through it (issue 13, class 11)."""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.domain.errors import AmountNotAllowed
from biller_server.domain.payments.recording import (
    DEFAULT_MAX_DUE_MULTIPLE,
    Overpayment,
    PaymentRequest,
    record_payment,
)
from biller_server.persistence.models import AmountExactness, Channel, Payment
from tests.factories import BillFactory

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
DUE = 100_300  # ₹1,003


def pay(session, amount_paise, **options):
    return record_payment(
        session=session,
        request=PaymentRequest(
            channel=Channel.KALEIDOFIN, partner_txn_ref="T1", partner_bill_id="B1", amount_paise=amount_paise
        ),
        confirm_with=None,
        now=NOW,
        **options,
    )


def payments(session):
    return session.scalar(sa.select(sa.func.count()).select_from(Payment))


@pytest.mark.parametrize("exactness", [AmountExactness.ANY, AmountExactness.EXACT_UP])
def test_the_issues_case_paise_read_as_rupees_is_refused(session, exactness):
    """``"amount":"100300"`` read as rupees on a bill of ₹1,003: a hundredfold, refused, nothing recorded."""
    bill = BillFactory(partner_bill_id="B1", amount_paise=DUE, exactness=exactness)

    with pytest.raises(Overpayment, match=r"more than 10 times the amount due on bill B1, 1003\.00"):
        pay(session, DUE * 100)

    assert payments(session) == 0
    assert bill.paid_paise == 0


@pytest.mark.parametrize("exactness", [AmountExactness.ANY, AmountExactness.EXACT_UP])
def test_up_to_the_multiple_is_taken_and_a_paisa_more_is_not(session, exactness):
    BillFactory(partner_bill_id="B1", amount_paise=DUE, exactness=exactness)
    with pytest.raises(Overpayment):
        pay(session, DUE * DEFAULT_MAX_DUE_MULTIPLE + 1)
    assert pay(session, DUE * DEFAULT_MAX_DUE_MULTIPLE).payment.amount_paise == DUE * 10


def test_the_multiple_is_measured_against_what_is_still_due(session):
    BillFactory(partner_bill_id="B1", amount_paise=DUE, paid_paise=DUE - 1_000, exactness=AmountExactness.ANY)
    with pytest.raises(Overpayment, match=r"amount due on bill B1, 10\.00"):
        pay(session, 10_001)


def test_the_multiple_is_the_callers(session):
    BillFactory(partner_bill_id="B1", amount_paise=DUE, exactness=AmountExactness.ANY)
    with pytest.raises(Overpayment, match="more than 2 times"):
        pay(session, DUE * 3, max_due_multiple=2)
    assert pay(session, DUE * 3, max_due_multiple=3).replayed is False


def test_a_bills_max_amount_allows_more(session):
    BillFactory(partner_bill_id="B1", amount_paise=DUE, exactness=AmountExactness.ANY, max_amount_paise=DUE * 50)
    assert pay(session, DUE * 50).payment.amount_paise == DUE * 50


def test_a_bills_max_amount_below_the_payment_does_not(session):
    BillFactory(partner_bill_id="B1", amount_paise=DUE, exactness=AmountExactness.ANY, max_amount_paise=DUE * 20)
    with pytest.raises(Overpayment):
        pay(session, DUE * 20 + 1)


def test_an_overpayment_is_an_amount_not_allowed_for_every_channels_mapping(session):
    # Channels map AmountNotAllowed to their own refusal (Kaleidofin incorrect-amount, Digiledge BLR007).
    assert issubclass(Overpayment, AmountNotAllowed)
    assert Overpayment.code == AmountNotAllowed.code
