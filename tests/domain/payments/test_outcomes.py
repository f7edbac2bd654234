import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.outcomes import AppliedOutcome, apply_payment_outcome, mark_payment_unresolved
from biller_server.persistence.models import Bill, BillStatus, Payment, PaymentEvent, PaymentStatus
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory

NOW = dt.datetime(2026, 11, 2, 10, 5, tzinfo=dt.UTC)


@pytest.fixture
def paid_bill(session):
    """A bill of 1000 rupees with one received payment of 600 applied to it."""
    bill = BillFactory(amount_paise=100_000, paid_paise=60_000, status=BillStatus.PARTIALLY_PAID)
    payment = PaymentFactory(bill=bill, amount_paise=60_000)
    ReceiptFactory(payment=payment)
    return bill, payment


def _events(session, payment):
    return list(session.scalars(sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id)))


def test_succeeded_confirms_the_payment_and_records_an_event(session, paid_bill):
    bill, payment = paid_bill

    applied = apply_payment_outcome(
        session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="kaleidofin:check", now=NOW
    )

    assert applied is AppliedOutcome.CONFIRMED
    assert payment.status is PaymentStatus.CONFIRMED
    assert bill.paid_paise == 60_000
    [event] = _events(session, payment)
    assert (event.kind, event.from_status, event.to_status, event.source) == (
        "confirmed",
        "RECEIVED",
        "CONFIRMED",
        "kaleidofin:check",
    )


def test_failed_reverses_the_payment_on_its_bill_and_keeps_the_receipt_and_reasons(session, paid_bill):
    bill, payment = paid_bill
    codes = [{"errorCd": "BFR004", "errorDtl": "Payment amount mismatch"}]

    applied = apply_payment_outcome(
        session=session,
        payment=payment,
        outcome="failed",
        source="digiledge:notification",
        reason="Amount mismatch",
        reason_codes=codes,
        now=NOW,
    )

    assert applied is AppliedOutcome.FAILED
    assert payment.status is PaymentStatus.FAILED
    assert payment.applied_to_bill is False
    assert payment.status_reason == "Amount mismatch"
    assert payment.reason_codes == codes
    assert payment.receipt is not None
    assert (bill.paid_paise, bill.status) == (0, BillStatus.OPEN)
    [event] = _events(session, payment)
    assert event.detail == {"reason": "Amount mismatch", "reason_codes": codes}


def test_the_outcome_is_in_the_database_and_nothing_is_left_pending_in_the_session(session, paid_bill):
    bill, payment = paid_bill
    codes = [{"errorCd": "BFR004", "errorDtl": "Payment amount mismatch"}]

    apply_payment_outcome(
        session=session, payment=payment, outcome="failed", source="digiledge:notification", reason="Mismatch",
        reason_codes=codes, now=NOW,
    )  # fmt: skip

    assert not session.dirty and not session.new
    payments = Payment.__table__
    stored = session.execute(sa.select(payments).where(payments.c.id == payment.id)).one()
    assert (stored.status, stored.status_reason, stored.reason_codes, stored.applied_to_bill) == (
        "FAILED",
        "Mismatch",
        codes,
        False,
    )
    assert session.execute(sa.select(Bill.__table__.c.paid_paise).where(Bill.id == bill.id)).scalar_one() == 0
    assert [event.kind for event in payment.events] == ["failed"]


def test_a_confirmation_without_reason_codes_leaves_them_sql_null(session, paid_bill):
    _, payment = paid_bill

    apply_payment_outcome(session=session, payment=payment, outcome="succeeded", source="kaleidofin:check", now=NOW)

    payments = Payment.__table__
    query = sa.select(payments.c.reason_codes.is_(None)).where(payments.c.id == payment.id)
    assert session.execute(query).scalar_one() is True
    assert payment.reason_codes is None


def test_failed_payment_on_a_bill_with_other_payments_leaves_it_partially_paid(session):
    bill = BillFactory(amount_paise=100_000, paid_paise=100_000, status=BillStatus.PAID)
    first = PaymentFactory(bill=bill, amount_paise=40_000)
    PaymentFactory(bill=bill, amount_paise=60_000)

    apply_payment_outcome(session=session, payment=first, outcome=Outcome.FAILED, source="t", now=NOW)

    assert (bill.paid_paise, bill.status) == (60_000, BillStatus.PARTIALLY_PAID)


def test_failed_payment_on_a_closed_bill_comes_off_it_and_the_bill_stays_closed(session, paid_bill):
    bill, payment = paid_bill
    bill.status = BillStatus.CLOSED

    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.FAILED, source="t", now=NOW)

    assert (bill.paid_paise, bill.status) == (0, BillStatus.CLOSED)


def test_a_later_failure_never_flips_a_confirmed_payment_it_flags_it(session, paid_bill):
    bill, payment = paid_bill
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="payu:check", now=NOW)

    applied = apply_payment_outcome(
        session=session, payment=payment, outcome=Outcome.FAILED, source="digiledge:notification", reason="x", now=NOW
    )

    assert applied is AppliedOutcome.FLAGGED
    assert payment.status is PaymentStatus.CONFIRMED
    assert payment.applied_to_bill is True
    assert bill.paid_paise == 60_000
    assert payment.flagged is True
    assert "failed" in payment.flag_reason and "CONFIRMED" in payment.flag_reason
    assert [e.kind for e in _events(session, payment)] == ["confirmed", "outcome_contradicted"]


def test_a_later_success_never_flips_a_failed_payment_it_flags_it(session, paid_bill):
    bill, payment = paid_bill
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.FAILED, source="t", now=NOW)

    applied = apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)

    assert applied is AppliedOutcome.FLAGGED
    assert payment.status is PaymentStatus.FAILED
    assert bill.paid_paise == 0


def test_the_same_final_outcome_twice_changes_nothing(session, paid_bill):
    _, payment = paid_bill
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)

    applied = apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)

    assert applied is AppliedOutcome.UNCHANGED
    assert payment.flagged is False
    assert len(_events(session, payment)) == 1


@pytest.mark.parametrize("outcome", [Outcome.PENDING, Outcome.NOT_FOUND])
def test_pending_and_not_found_change_nothing(session, paid_bill, outcome):
    _, payment = paid_bill

    assert apply_payment_outcome(session=session, payment=payment, outcome=outcome, source="t", now=NOW) is (
        AppliedOutcome.UNCHANGED
    )
    assert payment.status is PaymentStatus.RECEIVED
    assert _events(session, payment) == []


def test_an_unresolved_payment_still_takes_a_late_final_answer(session, paid_bill):
    bill, payment = paid_bill
    mark_payment_unresolved(session=session, payment=payment, source="t", reason="no answer in a day", now=NOW)

    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.FAILED, source="t", now=NOW)

    assert payment.status is PaymentStatus.FAILED
    assert bill.paid_paise == 0
    assert [e.kind for e in _events(session, payment)] == ["unresolved", "failed"]


def test_marking_unresolved_keeps_the_bill_and_skips_payments_already_settled(session, paid_bill):
    bill, payment = paid_bill

    assert mark_payment_unresolved(session=session, payment=payment, source="t", reason="why", now=NOW) is True
    assert (payment.status, payment.status_reason, bill.paid_paise) == (PaymentStatus.UNRESOLVED, "why", 60_000)

    confirmed = PaymentFactory(status=PaymentStatus.CONFIRMED)
    assert mark_payment_unresolved(session=session, payment=confirmed, source="t", reason="why", now=NOW) is False
    assert confirmed.status is PaymentStatus.CONFIRMED
