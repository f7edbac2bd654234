"""The whole Digiledge exchange against a fake BOU on 127.0.0.1: fetch, its response delivered by a worker,
payment, its response delivered, then NPCI's verdict by notification or, when none comes, by the Payment Status API.
"""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.clients.registry import PartnerClients
from biller_server.extensions import SETTINGS_KEY
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.deliveries import DeliveryEngine
from biller_server.jobs.engine import ConfirmationEngine
from biller_server.persistence.models import Job, JobKind, JobState, OutboundCall, Payment, PaymentStatus
from biller_server.persistence.types import utcnow
from tests.channels.digiledge.protocol import (
    BILLER_ID,
    REF_ID,
    TENANT_ID,
    TXN_REF,
    assert_ack,
    biller_response_from,
    borrower,
    fetch_body,
    instalment,
    payment_body,
)
from tests.fakes.digiledge_bou import ACKNOWLEDGED, notification_body
from tests.fakes.fixtures import digiledge_bou  # noqa: F401 (a fixture)
from tests.fakes.server import Reply, server_error

BOU_KEY = "bou-outbound-key-0123456789"


@pytest.fixture
def settings_overrides(digiledge_bou):  # noqa: F811
    return {
        "digiledge_bou_base_url": digiledge_bou.url,
        "digiledge_payment_status_url": digiledge_bou.payment_status_url,
        "digiledge_biller_id": BILLER_ID,
        "digiledge_outbound_api_key": BOU_KEY,
    }


@pytest.fixture
def clock():
    return FakeClock(utcnow())


@pytest.fixture
def clients(app):
    clients = PartnerClients(app.extensions[SETTINGS_KEY])  # the real DigiledgeClient, built from the settings
    yield clients
    clients.close()


@pytest.fixture
def deliveries(bound_sessionmaker, clients, clock):
    return DeliveryEngine(sessions=bound_sessionmaker, clients=clients, clock=clock, worker_id="test-deliveries")


@pytest.fixture
def confirmations(bound_sessionmaker, clients, clock):
    return ConfirmationEngine(sessions=bound_sessionmaker, clients=clients, clock=clock, worker_id="test-confirm")


def deliver_everything_due(engine, clock):
    clock.set(max(clock.now(), utcnow()))
    worked = 0
    while engine.run_once():
        worked += 1
    return worked


def fetch_and_pay(client, headers, deliveries, clock, bou):
    """Fetch, let the worker deliver the bill, pay what NPCI copied from it, let the worker deliver the result."""
    assert_ack(client.post("/digiledge/fetch", json=fetch_body(), headers=headers))
    assert deliver_everything_due(deliveries, clock) == 1
    [offered] = bou.delivered("BillFetchResponse")
    body = payment_body(amount=offered["amount"], biller_response=biller_response_from(offered))
    body["additionalInfo"] = offered["additionalInfo"]
    assert_ack(client.post("/digiledge/payment", json=body, headers=headers))
    assert deliver_everything_due(deliveries, clock) == 1
    return offered


def the_payment(session):
    return session.scalars(sa.select(Payment).execution_options(populate_existing=True)).one()


def test_fetch_pay_and_notification_confirm_the_payment(
    client,
    digiledge_headers,
    session,
    deliveries,
    clock,
    digiledge_bou,  # noqa: F811
):
    bill = instalment(borrower(), partner_bill_id="BILL-NOV", amount_paise=150_000)

    offered = fetch_and_pay(client, digiledge_headers, deliveries, clock, digiledge_bou)

    assert (offered["refId"], offered["billNumber"], offered["amount"]) == (REF_ID, "BILL-NOV", "1500.00")
    payment = the_payment(session)
    assert (payment.bill_id, payment.amount_paise, payment.customer_txn_ref) == (bill.id, 150_000, TXN_REF)
    [result] = digiledge_bou.delivered("BillPaymentResponse")
    assert result == {
        "refId": REF_ID,
        "status": "Successful",
        "approvalRefNum": payment.receipt.receipt_number,
        "tenantId": TENANT_ID,
    }
    delivered = session.scalars(sa.select(Job).where(Job.kind == JobKind.DELIVER_RESPONSE)).all()
    assert [(job.state, job.outcome) for job in delivered] == [(JobState.DONE, "delivered")] * 2
    sent = digiledge_bou.server.received("POST")
    assert {request.headers["x-api-key"] for request in sent} == {BOU_KEY}
    assert BOU_KEY not in " ".join(call.request_body or "" for call in session.scalars(sa.select(OutboundCall)))

    response = client.post(
        "/digiledge/payment-notification", json=notification_body(REF_ID, "Successful"), headers=digiledge_headers
    )

    assert_ack(response)
    assert the_payment(session).status is PaymentStatus.CONFIRMED


def test_without_a_notification_the_payment_status_api_confirms_the_payment(
    client,
    digiledge_headers,
    session,
    deliveries,
    confirmations,
    clock,
    digiledge_bou,  # noqa: F811
):
    instalment(borrower(), amount_paise=100_000)
    fetch_and_pay(client, digiledge_headers, deliveries, clock, digiledge_bou)
    digiledge_bou.payment_status(REF_ID, "Successful")
    assert the_payment(session).status is PaymentStatus.RECEIVED

    clock.set(utcnow() + dt.timedelta(seconds=6))  # the first status check is due 5 s after the payment
    assert confirmations.run_once() is True

    assert the_payment(session).status is PaymentStatus.CONFIRMED
    assert digiledge_bou.status_checks() == [{"refId": REF_ID, "billerId": BILLER_ID}]


def test_a_failure_reported_by_the_payment_status_api_makes_the_bill_due_again(
    client,
    digiledge_headers,
    session,
    deliveries,
    confirmations,
    clock,
    digiledge_bou,  # noqa: F811
):
    bill = instalment(borrower(), amount_paise=100_000)
    fetch_and_pay(client, digiledge_headers, deliveries, clock, digiledge_bou)
    digiledge_bou.payment_status(REF_ID, "Failure", reason="Debit failed")

    clock.set(utcnow() + dt.timedelta(seconds=6))
    confirmations.run_once()

    assert the_payment(session).status is PaymentStatus.FAILED
    session.refresh(bill)
    assert bill.paid_paise == 0


def test_a_response_the_bou_could_not_take_is_delivered_again_later(
    client,
    digiledge_headers,
    session,
    deliveries,
    clock,
    digiledge_bou,  # noqa: F811
):
    instalment(borrower())
    digiledge_bou.answer("BillFetchResponse", server_error(), Reply(body=ACKNOWLEDGED))
    client.post("/digiledge/fetch", json=fetch_body(), headers=digiledge_headers)

    deliver_everything_due(deliveries, clock)
    [job] = session.scalars(sa.select(Job).execution_options(populate_existing=True)).all()
    assert (job.state, job.outcome) == (JobState.PENDING, "error")
    clock.set(job.due_at)
    assert deliveries.run_once() is True

    first, second = digiledge_bou.delivered("BillFetchResponse")
    assert first == second
    session.refresh(job)
    assert (job.state, job.outcome) == (JobState.DONE, "delivered")
