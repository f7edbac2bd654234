import datetime as dt
import subprocess

import pytest
import sqlalchemy as sa

from biller_server.cli import serve as serve_module
from biller_server.cli.serve import serve_command
from biller_server.cli.supervision import WorkerSupervisor, stop_worker_process
from biller_server.cli.worker import worker_command
from biller_server.persistence.models import Job, JobState, PaymentStatus
from biller_server.persistence.types import utcnow
from tests.factories import PaymentFactory, ReceiptFactory
from tests.reliability.live import free_port


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


@pytest.fixture
def settings_overrides(tmp_path):
    return {"kaleidofin_confirmed_by": "fake", "instance_dir": tmp_path}


@pytest.fixture
def gunicorn_runs(monkeypatch):
    """Instead of gunicorn: what serve hands it (the worker's supervisor, or None)."""
    handed = []
    monkeypatch.setattr(serve_module, "upgrade", lambda engine: None)  # the test's open transaction holds the schema
    monkeypatch.setattr(serve_module.GunicornServer, "run", lambda self, supervisor, **_: handed.append(supervisor))
    return handed


def test_serve_runs_a_supervised_worker_beside_the_api(app, gunicorn_runs):
    result = app.test_cli_runner().invoke(serve_command, ["--port", str(free_port())])

    assert result.exit_code == 0, result.output
    [supervisor] = gunicorn_runs
    assert isinstance(supervisor, WorkerSupervisor)


def test_serve_no_worker_runs_only_the_api(app, gunicorn_runs):
    result = app.test_cli_runner().invoke(serve_command, ["--no-worker", "--port", str(free_port())])

    assert result.exit_code == 0, result.output
    assert gunicorn_runs == [None]


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
        stop_worker_process(worker, grace_seconds=20)
        assert worker.returncode == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stderr.close()
