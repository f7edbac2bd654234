"""A Setu BillCollect payment from end to end: Setu's fetchReceipt example (verbatim) through the channel's view,
then the worker asks Setu's bills API (a fake Setu) about the bill and applies its platformBillStatus."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from biller_server.clients.http import Timeouts
from biller_server.clients.setu import SetuClient
from biller_server.persistence.models import (
    Bill,
    BillStatus,
    Job,
    JobState,
    OutboundCall,
    Payment,
    PaymentStatus,
    SettlementState,
)
from tests.factories import BillFactory, CustomerFactory
from tests.fakes import payloads
from tests.fakes import setu_payloads as published_pages
from tests.fakes.server import Reply, server_error
from tests.fakes.setu_payloads import strip_comments

BILL_PATH = "/api/v2/utilities/bills/906910589572351478"


@pytest.fixture
def setu(fake_partner):
    fake_partner.reply("POST", "/api/v2/auth/token", Reply(body=payloads.SETU_TOKEN))
    client = SetuClient(
        payment_status_url=None,  # a BillCollect biller has no BillPay status URL
        token_url=f"{fake_partner.url}/api/v2/auth/token",
        client_id="setu-client",
        client_secret="setu-secret-value",
        product_instance_id="PI-1",
        timeouts=Timeouts(connect=0.5, read=0.3),
    )
    yield client
    client.close()


@pytest.fixture
def posted_by_setu(client, setu_headers, session, clock):
    """Setu's fetchReceipt example for its bill 891234567 (Rs 10), posted to the view; the clock at its job."""
    customer = CustomerFactory(lender_customer_id="9117534711", name="Sharmaji Ka Beta", mobile=None)
    BillFactory(customer=customer, partner_bill_id="891234567", amount_paise=1000)
    response = client.post(
        "/setu/bills/fetchReceipt",
        data=strip_comments(published_pages.FETCH_RECEIPT_REQUEST),
        headers={"Content-Type": "application/json", **setu_headers},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    job = session.scalars(sa.select(Job)).one()
    assert (job.partner, job.payload["setu_context"]["platformBillID"]) == ("setu", "906910589572351478")
    clock.set(job.due_at)
    return session.scalars(sa.select(Payment)).one()


def work_the_job(make_engine, setu, session, payment):
    assert make_engine({"setu": setu}).run_once()
    session.expire_all()
    return session.get(Payment, payment.id), session.scalars(sa.select(Job)).one()


def test_a_successful_bill_confirms_the_payment_setu_posted(make_engine, setu, fake_partner, session, posted_by_setu):
    fake_partner.reply("GET", BILL_PATH, Reply(body=payloads.setu_bill("PAYMENT_SUCCESSFUL")))

    payment, job = work_the_job(make_engine, setu, session, posted_by_setu)

    assert payment.status is PaymentStatus.CONFIRMED
    assert (job.state, job.outcome) == (JobState.DONE, "succeeded")
    [asked] = fake_partner.received("GET", BILL_PATH)
    assert asked.headers["x-setu-product-instance-id"] == "PI-1"
    assert fake_partner.received("POST", "/api/v2/bbps/payments/status") == []
    calls = session.scalars(sa.select(OutboundCall).where(OutboundCall.job_id == job.id)).all()
    assert [(c.operation, c.method, c.response_status) for c in calls] == [
        ("token", "POST", 200),
        ("get_bill", "GET", 200),
    ]


@pytest.mark.parametrize(
    ("status", "settlement"),
    [
        ("CREDIT_RECEIVED", SettlementState.CREDIT_RECEIVED),
        ("SETTLEMENT_SUCCESSFUL", SettlementState.SETTLED),
        ("SETTLEMENT_FAILED", SettlementState.SETTLEMENT_FAILED),
    ],
)
def test_a_settlement_word_confirms_and_says_where_the_money_is(
    make_engine, setu, fake_partner, session, posted_by_setu, status, settlement
):
    fake_partner.reply("GET", BILL_PATH, Reply(body=payloads.setu_bill(status)))

    payment, _ = work_the_job(make_engine, setu, session, posted_by_setu)

    assert (payment.status, payment.settlement_state) == (PaymentStatus.CONFIRMED, settlement)


def test_a_failed_payment_is_reversed_on_its_bill(make_engine, setu, fake_partner, session, posted_by_setu):
    fake_partner.reply("GET", BILL_PATH, Reply(body=payloads.setu_bill("PAYMENT_FAILED")))

    payment, job = work_the_job(make_engine, setu, session, posted_by_setu)

    bill = session.scalars(sa.select(Bill)).one()
    assert (payment.status, job.outcome) == (PaymentStatus.FAILED, "failed")
    assert bill.paid_paise == 0 and bill.status is not BillStatus.PAID


@pytest.mark.parametrize(
    "reply", [server_error(), Reply(body=payloads.setu_bill("BILL_CREATED"))], ids=["5xx", "pending"]
)
def test_no_answer_or_a_pending_bill_decides_nothing_and_asks_again(
    make_engine, setu, fake_partner, session, posted_by_setu, clock, reply
):
    fake_partner.reply("GET", BILL_PATH, reply)
    asked_at = clock.now()

    payment, job = work_the_job(make_engine, setu, session, posted_by_setu)

    assert payment.status is PaymentStatus.RECEIVED
    assert job.state is JobState.PENDING and job.due_at > asked_at
    assert len(fake_partner.received("GET", BILL_PATH)) == 1
