import datetime as dt
import subprocess

import pytest
import sqlalchemy as sa

from biller_server.cli import serve as serve_module
from biller_server.cli.serve import serve_command
from biller_server.cli.worker import worker_command
from biller_server.persistence.models import Job, JobState, PaymentStatus
from biller_server.persistence.types import utcnow
from tests.factories import PaymentFactory, ReceiptFactory


@pytest.fixture
def settings_overrides():
    return {"kaleidofin_confirmed_by": "fake"}


def test_worker_once_works_every_due_job_and_exits(app, session):
    from biller_server.domain.payments.confirmations import enqueue_payment_confirmation

    payment = PaymentFactory()
    ReceiptFactory(payment=payment)
    enqueue_payment_confirmation(
        session=session, payment=payment, confirm_with="fake", now=utcnow() - dt.timedelta(seconds=10)
    )
    session.flush()

    result = app.test_cli_runner().invoke(worker_command, ["--once", "--concurrency", "1"])

    assert result.exit_code == 0, result.output
    assert "1 job(s) worked" in result.output
    session.expire_all()
    job = session.scalars(sa.select(Job).where(Job.payment_id == payment.id)).one()
    assert job.state is JobState.DONE
    assert job.payment_id == payment.id
    session.refresh(payment)
    assert payment.status is PaymentStatus.CONFIRMED


def test_production_refuses_the_fake_partner():
    from biller_server.config import MissingSettingError, load_settings

    settings = load_settings(
        env="production",
        kaleidofin_api_key="k" * 20,
        digiledge_api_key="k" * 20,
        kaleidofin_confirmed_by="fake",
        digiledge_payment_status_url="https://digiledge.example/status",
        digiledge_biller_id="B1",
    )
    with pytest.raises(MissingSettingError, match="fake"):
        settings.check_production()


def test_production_needs_the_urls_of_the_partners_in_use_only():
    from biller_server.config import MissingSettingError, load_settings

    settings = load_settings(
        env="production", kaleidofin_api_key="k" * 20, digiledge_api_key="k" * 20, digiledge_confirmed_by="payu"
    )
    with pytest.raises(MissingSettingError) as excinfo:
        settings.check_production()
    message = str(excinfo.value)
    assert "BILLER_KALEIDOFIN_STATUS_URL" in message
    assert "BILLER_PAYU_CLIENT_SECRET" in message
    assert "DIGILEDGE_PAYMENT_STATUS_URL" not in message
    assert "CASHFREE" not in message and "SETU" not in message


class _Recorder:
    def __init__(self):
        self.events = []


@pytest.fixture
def no_gunicorn(monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(serve_module, "upgrade", lambda engine: None)  # the test's open transaction holds the schema
    monkeypatch.setattr(serve_module.GunicornServer, "run", lambda self: recorder.events.append("gunicorn ran"))
    monkeypatch.setattr(serve_module, "start_worker_process", lambda: recorder.events.append("worker started") or "w")
    monkeypatch.setattr(
        serve_module, "stop_worker_process", lambda worker, grace_seconds: recorder.events.append(f"{worker} stopped")
    )
    return recorder


def test_serve_runs_a_worker_beside_the_api_and_stops_it_when_the_api_stops(app, no_gunicorn):
    result = app.test_cli_runner().invoke(serve_command, [])

    assert result.exit_code == 0, result.output
    assert no_gunicorn.events == ["worker started", "gunicorn ran", "w stopped"]


def test_serve_no_worker_runs_only_the_api(app, no_gunicorn):
    result = app.test_cli_runner().invoke(serve_command, ["--no-worker"])

    assert result.exit_code == 0, result.output
    assert no_gunicorn.events == ["gunicorn ran"]


def test_the_worker_process_serve_starts_stops_gracefully_on_sigterm(
    engine, database_url, backend, monkeypatch, tmp_path
):
    if backend != "sqlite":
        pytest.skip("one real process start is enough")
    monkeypatch.setenv("BILLER_DATABASE_URL", database_url)
    monkeypatch.setenv("BILLER_ENV", "test")
    monkeypatch.setenv("BILLER_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("BILLER_WORKER_POLL_INTERVAL_SECONDS", "0.1")

    worker = serve_module.start_worker_process(stderr=subprocess.PIPE)
    try:
        for line in worker.stderr:  # wait until it is up, its signal handlers in place
            if b"started with 1 thread" in line:
                break
        serve_module.stop_worker_process(worker, grace_seconds=20)
        assert worker.returncode == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stderr.close()
