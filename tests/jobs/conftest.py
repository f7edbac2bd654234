"""Fixtures for the engine tests: a fake clock, engines bound to the test's rolled-back connection, and, for the
tests that need several real transactions at once (concurrent workers, a killed worker process), a committing
sessionmaker whose rows are deleted afterwards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from biller_server.clients.base import PartnerClient
from biller_server.clients.registry import PartnerClients
from biller_server.domain.payments.confirmations import enqueue_payment_confirmation
from biller_server.jobs import queue
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.engine import KINDS, ConfirmationBatch, ConfirmationEngine
from biller_server.persistence.models import Base, Job, Payment
from tests import factories
from tests.factories import PaymentFactory, ReceiptFactory
from tests.fakes.fixtures import fake_partner  # noqa: F401 (a fixture)

START = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def make_engine(bound_sessionmaker: sessionmaker[Session], clock: FakeClock) -> Callable[..., ConfirmationEngine]:
    def make(
        clients: dict[str, PartnerClient],
        *,
        worker_id: str = "test-worker",
        lease_seconds: float = 60,
        batch: ConfirmationBatch | None = None,
    ) -> ConfirmationEngine:
        return ConfirmationEngine(
            sessions=bound_sessionmaker,
            clients=PartnerClients(clients=clients),
            clock=clock,
            worker_id=worker_id,
            lease=dt.timedelta(seconds=lease_seconds),
            batch=batch,
        )

    return make


def received_payment(session: Session, *, confirm_with: str, now: dt.datetime = START, **values: object) -> Payment:
    """A payment as a channel leaves it: received, receipted, applied to its bill, with its confirmation job."""
    payment = PaymentFactory(**values)
    bill = payment.bill
    bill.paid_paise += payment.amount_paise
    ReceiptFactory(payment=payment)
    enqueue_payment_confirmation(session=session, payment=payment, confirm_with=confirm_with, now=now)
    session.flush()
    return payment


def job_of(session: Session, payment: Payment) -> Job:
    return session.scalars(
        sa.select(Job).where(Job.payment_id == payment.id).execution_options(populate_existing=True)
    ).one()


def run_until_idle(engine: ConfirmationEngine, clock: FakeClock, *, until: dt.datetime) -> int:
    """Work every job, moving the fake clock to each next due time, until nothing is due before ``until``."""
    worked = 0
    while True:
        while engine.run_once():
            worked += 1
        with engine.sessions() as session:
            due = queue.next_due_at(session=session, kinds=KINDS)
        if due is None or due > until:
            return worked
        clock.set(max(due, clock.now()))


@pytest.fixture
def committed(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (several workers must see each other's claims); every table emptied after."""
    makers = sessionmaker(engine, expire_on_commit=False)
    try:
        yield makers
    finally:
        factories.bind(None)
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
