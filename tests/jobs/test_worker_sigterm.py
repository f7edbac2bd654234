"""SIGTERM to a real ``biller-server worker`` in the middle of its calls: every claimed job finishes and is recorded.

Two threads, each holding a job when the signal comes: a status check with a partner and a webhook delivery, both
answered slowly. The process must wait for both answers, record them, and exit 0; nothing is sent twice and no
job is left held by the dead process's lease.
"""

import datetime as dt
import os
import signal
import subprocess
import sys

import sqlalchemy as sa

from biller_server.domain.deliveries import enqueue_delivery
from biller_server.persistence.models import Job, JobKind, JobState, OutboundCall, Payment, PaymentStatus
from tests import factories
from tests.fakes import payloads
from tests.fakes.server import Reply
from tests.jobs.conftest import received_payment

SLOW = 1.5  # seconds each answer takes: the signal arrives while both calls are in flight


def _worker(database_url, partner_url, tmp_path):
    environment = {
        **os.environ,
        "BILLER_ENV": "test",
        "BILLER_DATABASE_URL": database_url,
        "BILLER_INSTANCE_DIR": str(tmp_path),
        "BILLER_LOG_LEVEL": "INFO",
        "BILLER_KALEIDOFIN_STATUS_URL": f"{partner_url}/status",
        "BILLER_WEBHOOK_URL": f"{partner_url}/hook",
        "BILLER_WEBHOOK_SECRET": "whsec-sigterm-0123456789",
        "BILLER_WORKER_CONCURRENCY": "2",
        "BILLER_WORKER_POLL_INTERVAL_SECONDS": "0.1",
        "BILLER_WORKER_LEASE_SECONDS": "120",
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from biller_server.cli import main; main()", "worker"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


def test_sigterm_mid_call_lets_both_claimed_jobs_finish_and_be_recorded(
    committed, database_url, fake_partner, tmp_path
):
    now = dt.datetime.now(dt.UTC)
    with committed() as session:
        factories.bind(session)
        payment_id = received_payment(
            session, confirm_with="kaleidofin", now=now - dt.timedelta(seconds=10), partner_bill_ref="15"
        ).id
        delivery = enqueue_delivery(
            session=session,
            kind=JobKind.DELIVER_WEBHOOK,
            receiver="webhook",
            operation="payment.confirmed",
            body={"id": "webhook:earlier:CONFIRMED", "type": "payment.confirmed"},
            now=now - dt.timedelta(seconds=1),
        )
        session.commit()
        delivery_id = delivery.id
        factories.bind(None)
    fake_partner.reply(
        "GET", "/status/15", Reply(body=payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL"), delay=SLOW)
    )
    fake_partner.reply("POST", "/hook", Reply(status=200, body="", delay=SLOW))

    process = _worker(database_url, fake_partner.url, tmp_path)
    try:
        fake_partner.wait_for(1, path="/status/15", timeout=30)
        fake_partner.wait_for(1, path="/hook", timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, (tmp_path / "worker.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    log = (tmp_path / "worker.log").read_text()
    assert "stopping (signal 15)" in log
    with committed() as session:
        confirmation = session.scalars(
            sa.select(Job).where(Job.payment_id == payment_id, Job.kind == JobKind.CONFIRM_PAYMENT)
        ).one()
        assert (confirmation.state, confirmation.outcome, confirmation.attempts) == (JobState.DONE, "succeeded", 1)
        assert session.get(Payment, payment_id).status is PaymentStatus.CONFIRMED
        delivery = session.get(Job, delivery_id)
        assert (delivery.state, delivery.outcome, delivery.attempts) == (JobState.DONE, "delivered", 1)
        jobs = list(session.scalars(sa.select(Job)))
        assert all(job.lease_owner is None for job in jobs)  # nothing left held by the stopped process
        # The confirmation queued the payment's own event in its transaction: delivered before the exit, or
        # waiting for the next worker, never lost.
        event = session.scalars(sa.select(Job).where(Job.dedupe_key == f"webhook:{payment_id}:CONFIRMED")).one()
        assert event.state in (JobState.DONE, JobState.PENDING)
        done = [job for job in jobs if job.state is JobState.DONE]
        assert session.scalar(sa.select(sa.func.count()).select_from(OutboundCall)) == len(done)
    # Each call was made once: none repeated by the shutdown.
    assert len(fake_partner.received("GET", "/status/15")) == 1
    assert len(fake_partner.received("POST", "/hook")) == len([j for j in done if j.kind is JobKind.DELIVER_WEBHOOK])
