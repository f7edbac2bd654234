"""A payment reaching a final state queues the lender's event in the same transaction, only when configured."""

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from biller_server.app import create_app
from biller_server.clients.base import Outcome, StatusResult
from biller_server.clients.fake import FakePartnerClient
from biller_server.clients.http import Timeouts
from biller_server.clients.registry import PartnerClients
from biller_server.clients.webhook import WebhookClient
from biller_server.domain.payments.confirmations import enqueue_payment_confirmation
from biller_server.domain.payments.events import PaymentEvents, configure_payment_events, configured_payment_events
from biller_server.domain.payments.outcomes import apply_payment_outcome, mark_payment_unresolved
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.deliveries import DeliveryEngine
from biller_server.jobs.engine import ConfirmationEngine
from biller_server.persistence.models import Job, JobKind, JobState, Payment, PaymentStatus
from tests.conftest import make_settings
from tests.factories import BillFactory, CustomerFactory, PaymentFactory, ReceiptFactory
from tests.fakes.server import Reply

NOW = dt.datetime(2026, 11, 2, 10, 5, tzinfo=dt.UTC)
SECRET = "whsec-events-0123456789"


@pytest.fixture
def events():
    """Events on for this test only: the setting is process-wide."""
    previous = configured_payment_events()
    configure_payment_events(PaymentEvents())
    yield
    configure_payment_events(previous)


@pytest.fixture
def no_events():
    previous = configured_payment_events()
    configure_payment_events(None)
    yield
    configure_payment_events(previous)


def _payment(**values):
    customer = CustomerFactory(lender_customer_id="AY1234")
    bill = BillFactory(customer=customer, partner_bill_id="BILL-7", loan_account_number="LAN7", paid_paise=100_000)
    payment = PaymentFactory(bill=bill, partner_txn_ref="TXN-7", amount_paise=100_000, **values)
    ReceiptFactory(payment=payment, receipt_number="R-7")
    return payment


def _webhook_jobs(session):
    return list(
        session.scalars(
            sa.select(Job)
            .where(Job.kind == JobKind.DELIVER_WEBHOOK)
            .order_by(Job.id)
            .execution_options(populate_existing=True)
        )
    )


def test_a_confirmed_payment_queues_its_event(session, events):
    payment = _payment()

    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)

    [job] = _webhook_jobs(session)
    assert (job.partner, job.payment_id, job.state) == ("webhook", payment.id, JobState.PENDING)
    assert job.dedupe_key == f"webhook:{payment.id}:CONFIRMED"
    assert job.due_at == NOW
    assert job.payload["operation"] == "payment.confirmed"
    body = job.payload["body"]
    assert body["id"] == f"webhook:{payment.id}:CONFIRMED"
    assert body["type"] == "payment.confirmed"
    assert body["occurred_at"] == "2026-11-02T10:05:00+00:00"
    assert body["payment"] | {"id": 0} == {
        "id": 0,
        "status": "CONFIRMED",
        "previous_status": "RECEIVED",
        "status_reason": None,
        "channel": "kaleidofin",
        "partner_txn_ref": "TXN-7",
        "customer_txn_ref": None,
        "partner_bill_ref": None,
        "amount": "1000.00",
        "amount_paise": 100_000,
        "paid_at": "2026-11-02T10:00:00+00:00",
        "applied_to_bill": True,
        "receipt_number": "R-7",
    }
    assert body["bill"] == {
        "partner_bill_id": "BILL-7",
        "loan_account_number": "LAN7",
        "lender_customer_id": "AY1234",
        "status": "OPEN",
        "amount": "1000.00",
        "paid": "1000.00",
    }
    json.dumps(body)  # plain JSON, no dates or decimals left in it


def test_a_failed_payment_says_its_effect_on_the_bill_was_reversed(session, events):
    payment = _payment()

    apply_payment_outcome(
        session=session, payment=payment, outcome=Outcome.FAILED, source="t", reason="Amount mismatch", now=NOW
    )

    [job] = _webhook_jobs(session)
    assert job.payload["operation"] == "payment.failed"
    assert job.payload["body"]["payment"]["applied_to_bill"] is False
    assert job.payload["body"]["payment"]["status_reason"] == "Amount mismatch"
    assert job.payload["body"]["bill"]["paid"] == "0.00"


def test_unresolved_then_a_late_answer_give_two_events(session, events):
    payment = _payment()

    mark_payment_unresolved(session=session, payment=payment, source="t", reason="no answer in a day", now=NOW)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)

    jobs = _webhook_jobs(session)
    assert [job.payload["operation"] for job in jobs] == ["payment.unresolved", "payment.confirmed"]
    assert jobs[1].payload["body"]["payment"]["previous_status"] == "UNRESOLVED"


def test_no_event_when_nothing_reaches_a_final_state(session, events):
    payment = _payment()
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)

    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.PENDING, source="t", now=NOW)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.FAILED, source="t", now=NOW)  # flagged
    mark_payment_unresolved(session=session, payment=payment, source="t", reason="late", now=NOW)

    assert payment.flagged
    assert [job.payload["operation"] for job in _webhook_jobs(session)] == ["payment.confirmed"]


def test_nothing_is_queued_when_the_webhook_is_not_configured(session, no_events):
    payment = _payment()

    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)

    assert _webhook_jobs(session) == []


def test_the_event_is_part_of_the_state_changes_transaction(session, events):
    payment = _payment()
    session.flush()

    savepoint = session.begin_nested()
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="t", now=NOW)
    assert len(_webhook_jobs(session)) == 1
    savepoint.rollback()

    assert _webhook_jobs(session) == []
    assert session.get(Payment, payment.id, populate_existing=True).status is PaymentStatus.RECEIVED


def test_the_application_factory_turns_events_on_only_with_a_webhook_url(database_url):
    previous = configured_payment_events()
    try:
        create_app(make_settings(database_url, webhook_url="https://lms.example/hook", webhook_secret=SECRET))
        assert configured_payment_events() == PaymentEvents(receiver="webhook")
        create_app(make_settings(database_url))
        assert configured_payment_events() is None
    finally:
        configure_payment_events(previous)


def test_confirmation_to_lender_end_to_end(session, bound_sessionmaker, events, fake_partner):
    """The confirmation engine confirms; the delivery engine posts the event to the lender's receiver."""
    payment = _payment(paid_at=NOW - dt.timedelta(seconds=5))
    enqueue_payment_confirmation(session=session, payment=payment, confirm_with="kaleidofin", now=payment.paid_at)
    session.flush()
    fake_partner.reply("POST", "/lms/events", Reply(status=200, body=""))
    clock = FakeClock(NOW)
    webhook = WebhookClient(url=f"{fake_partner.url}/lms/events", secret=SECRET, timeouts=Timeouts(0.5, 2))
    clients = PartnerClients(
        clients={
            "kaleidofin": FakePartnerClient("kaleidofin", [StatusResult(Outcome.SUCCEEDED, raw_status="PAID")]),
            "webhook": webhook,
        }
    )
    confirmations = ConfirmationEngine(sessions=bound_sessionmaker, clients=clients, clock=clock, worker_id="c")
    deliveries = DeliveryEngine(sessions=bound_sessionmaker, clients=clients, clock=clock, worker_id="d")

    assert confirmations.run_once() is True
    assert deliveries.run_once() is True
    clients.close()

    [request] = fake_partner.received("POST", "/lms/events")
    assert request.json()["type"] == "payment.confirmed"
    assert request.json()["payment"]["id"] == payment.id
    [job] = _webhook_jobs(session)
    assert (job.state, job.outcome) == (JobState.DONE, "delivered")
