"""Workers sharing the queue for real: every claim and answer commits, as it does between processes and hosts."""

import datetime as dt
import os
import signal
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from biller_server.clients.base import Outcome, StatusResult
from biller_server.clients.fake import FakePartnerClient
from biller_server.clients.http import Timeouts
from biller_server.clients.kaleidofin import KaleidofinClient
from biller_server.clients.registry import PartnerClients
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.engine import ConfirmationEngine
from biller_server.jobs.worker import Worker
from biller_server.persistence.models import Job, JobState, OutboundCall, Payment, PaymentEvent, PaymentStatus
from tests import factories
from tests.fakes import payloads
from tests.fakes.server import Reply
from tests.jobs.conftest import START, received_payment

SUCCEEDED = StatusResult(Outcome.SUCCEEDED, raw_status="PAYMENT_SUCCESSFUL")


def _count(makers, model, *where):
    with makers() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _received_payments(makers, count, *, confirm_with="kaleidofin", now=START, **values):
    with makers() as session:
        factories.bind(session)
        ids = [received_payment(session, confirm_with=confirm_with, now=now, **values).id for _ in range(count)]
        session.commit()
        factories.bind(None)
    return ids


def test_many_workers_claiming_at_once_work_every_job_exactly_once(committed):
    payment_ids = _received_payments(committed, 24)
    partner = FakePartnerClient("kaleidofin", [SUCCEEDED])
    clock = FakeClock(START + dt.timedelta(seconds=5))
    workers = [
        Worker(
            sessions=committed,
            clients=lambda: PartnerClients(clients={"kaleidofin": partner}),
            clock=clock,
            concurrency=4,
            name=f"host-{n}",
        )
        for n in range(2)
    ]
    threads = [threading.Thread(target=worker.run, kwargs={"once": True}) for worker in workers]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(call.context.payment_id for call in partner.calls) == sorted(payment_ids)
    assert _count(committed, Job, Job.state == JobState.DONE, Job.attempts == 1) == 24
    assert _count(committed, PaymentEvent, PaymentEvent.kind == "confirmed") == 24
    assert _count(committed, Payment, Payment.status == PaymentStatus.CONFIRMED) == 24


def test_a_stopping_worker_finishes_the_job_in_hand_then_exits(committed):
    [payment_id] = _received_payments(committed, 1)
    in_call, release = threading.Event(), threading.Event()

    def hold(_context):
        in_call.set()
        release.wait(10)

    partner = FakePartnerClient("kaleidofin", [SUCCEEDED], on_call=hold)
    worker = Worker(
        sessions=committed,
        clients=lambda: PartnerClients(clients={"kaleidofin": partner}),
        clock=FakeClock(START + dt.timedelta(seconds=5)),
        poll_interval_seconds=0.05,
    )
    done = []
    runner = threading.Thread(target=lambda: done.append(worker.run()))
    runner.start()
    assert in_call.wait(10)

    worker.request_stop(signal.SIGTERM)
    release.set()
    runner.join(10)

    assert done == [1]
    assert _count(committed, Payment, Payment.id == payment_id, Payment.status == PaymentStatus.CONFIRMED) == 1


def _worker_process(database_url, partner_url, tmp_path):
    environment = {
        **os.environ,
        "BILLER_ENV": "test",
        "BILLER_DATABASE_URL": database_url,
        "BILLER_INSTANCE_DIR": str(tmp_path),
        "BILLER_LOG_LEVEL": "INFO",
        "BILLER_KALEIDOFIN_STATUS_URL": f"{partner_url}/status",
        "BILLER_PARTNER_READ_TIMEOUT_SECONDS": "30",
        "BILLER_WORKER_POLL_INTERVAL_SECONDS": "0.1",
        "BILLER_WORKER_LEASE_SECONDS": "120",
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from biller_server.cli import main; main()", "worker"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


@pytest.fixture
def now_payment(committed):
    """A payment made 10 s ago (real time), its first check already due, confirmed by Kaleidofin bill 15."""
    now = dt.datetime.now(dt.UTC)
    [payment_id] = _received_payments(committed, 1, now=now - dt.timedelta(seconds=10), partner_bill_ref="15")
    return payment_id, now


def test_a_worker_killed_mid_call_loses_nothing_and_another_completes_the_job_exactly_once(
    committed, database_url, fake_partner, tmp_path, now_payment
):
    payment_id, now = now_payment
    partner_holds = threading.Event()
    fake_partner.reply(
        "GET",
        "/status/15",
        Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL"), hang=partner_holds),
        Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL")),
    )
    process = _worker_process(database_url, fake_partner.url, tmp_path)
    try:
        fake_partner.wait_for(1, path="/status/15", timeout=30)  # the worker claimed the job and is mid-call
    finally:
        process.kill()
        process.wait(10)
    partner_holds.set()
    with committed() as session:
        job = session.scalars(sa.select(Job).where(Job.payment_id == payment_id)).one()
        assert (job.state, job.attempts) == (JobState.PENDING, 1)
        assert job.lease_owner is not None and job.lease_expires_at > now

    # Another worker, once the dead one's lease has run out.
    client = KaleidofinClient(status_url=f"{fake_partner.url}/status", timeouts=Timeouts(1, 5))
    survivor = ConfirmationEngine(
        sessions=committed,
        clients=PartnerClients(clients={"kaleidofin": client}),
        clock=FakeClock(job.lease_expires_at + dt.timedelta(seconds=1)),
        worker_id="survivor",
    )
    assert survivor.run_once() is True
    assert survivor.run_once() is False
    client.close()

    with committed() as session:
        job = session.scalars(sa.select(Job).where(Job.payment_id == payment_id)).one()
        assert (job.state, job.outcome, job.attempts, job.lease_owner) == (JobState.DONE, "succeeded", 2, None)
        assert session.get(Payment, payment_id).status is PaymentStatus.CONFIRMED
    assert _count(committed, PaymentEvent, PaymentEvent.payment_id == payment_id, PaymentEvent.kind == "confirmed") == 1
    assert len(fake_partner.received("GET", "/status/15")) == 2
    # The killed worker's call was written down before it was sent and stays without an answer; the survivor's
    # is complete.
    with committed() as session:
        calls = list(session.scalars(sa.select(OutboundCall).order_by(OutboundCall.id)))
        assert [(call.completed_at is None, call.response_status) for call in calls] == [(True, None), (False, 200)]


def test_sigterm_lets_the_worker_process_finish_its_call_and_record_it(
    committed, database_url, fake_partner, tmp_path, now_payment, backend
):
    if backend != "sqlite":
        pytest.skip("the same process code on both databases; one real process start is enough here")
    payment_id, _ = now_payment
    with committed() as session:
        receipt = session.get(Payment, payment_id).receipt.receipt_number
    partner_holds = threading.Event()
    # A bill-level failure fails a BBPS payment only when it names it: here by the receipt we gave in fetchReceipt.
    fake_partner.reply(
        "GET",
        "/status/15",
        Reply(body=payloads.kaleidofin_status_naming("PAYMENT_FAILED", receipt=receipt), hang=partner_holds),
    )
    process = _worker_process(database_url, fake_partner.url, tmp_path)
    try:
        fake_partner.wait_for(1, path="/status/15", timeout=30)
        process.send_signal(signal.SIGTERM)
        partner_holds.set()
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    with committed() as session:
        job = session.scalars(sa.select(Job).where(Job.payment_id == payment_id)).one()
        assert (job.state, job.outcome) == (JobState.DONE, "failed")
        assert session.get(Payment, payment_id).status is PaymentStatus.FAILED
