"""``biller-server worker --once`` for cron: an outage must not look like "nothing was due"."""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.cli.worker import worker_command
from biller_server.clients.registry import PartnerClients
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.engine import ConfirmationEngine
from biller_server.jobs.worker import Worker
from tests.jobs.conftest import START


@pytest.fixture
def settings_overrides():
    return {"kaleidofin_confirmed_by": "fake"}


def _database_down(*_args, **_kwargs):
    raise sa.exc.OperationalError("SELECT 1", {}, Exception("could not connect to server"))


def test_a_worker_counts_the_turns_that_failed(bound_sessionmaker, monkeypatch):
    monkeypatch.setattr(ConfirmationEngine, "run_once", _database_down)
    worker = Worker(
        sessions=bound_sessionmaker,
        clients=lambda: PartnerClients(clients={}),
        clock=FakeClock(START),
        concurrency=3,
    )

    assert worker.run(once=True) == 0
    assert worker.failed_turns == 3  # each thread stops at its first failed turn


def test_a_worker_with_nothing_due_has_no_failed_turns(bound_sessionmaker):
    worker = Worker(sessions=bound_sessionmaker, clients=lambda: PartnerClients(clients={}), clock=FakeClock(START))

    assert worker.run(once=True) == 0
    assert worker.failed_turns == 0


def test_worker_once_exits_non_zero_when_a_turn_failed(app, monkeypatch):
    monkeypatch.setattr(ConfirmationEngine, "run_once", _database_down)

    result = app.test_cli_runner().invoke(worker_command, ["--once", "--concurrency", "2"])

    assert result.exit_code == 1, result.output
    assert "0 job(s) worked" in result.output
    assert "2 turn(s) failed" in result.output


def test_worker_once_with_nothing_due_exits_zero(app):
    result = app.test_cli_runner().invoke(worker_command, ["--once", "--concurrency", "1"])

    assert result.exit_code == 0, result.output
    assert "0 job(s) worked" in result.output


def test_a_failed_turn_does_not_stop_a_long_running_worker(bound_sessionmaker, monkeypatch):
    turns = []

    def flaky(engine):
        turns.append(engine.worker_id)
        if len(turns) == 1:
            _database_down()
        worker.request_stop()
        return False

    monkeypatch.setattr(ConfirmationEngine, "run_once", flaky)
    worker = Worker(
        sessions=bound_sessionmaker,
        clients=lambda: PartnerClients(clients={}),
        clock=FakeClock(START),
        poll_interval_seconds=0.01,
        lease=dt.timedelta(seconds=30),
    )

    assert worker.run() == 0
    assert (len(turns), worker.failed_turns) == (2, 1)
