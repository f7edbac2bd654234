import datetime as dt

from biller_server.domain.payments.confirmations import enqueue_payment_confirmation
from biller_server.persistence.models import JobKind, JobState
from tests.factories import PaymentFactory

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def test_confirmation_is_scheduled_five_seconds_after_the_payment(session):
    payment = PaymentFactory()

    job = enqueue_payment_confirmation(session=session, payment=payment, confirm_with="payu", now=NOW)
    session.flush()

    assert (job.kind, job.partner, job.state) == (JobKind.CONFIRM_PAYMENT, "payu", JobState.PENDING)
    assert (job.anchor_at, job.due_at) == (NOW, NOW + dt.timedelta(seconds=5))
