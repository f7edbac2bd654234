"""How a worker thread shares its turns between confirmations and deliveries."""

import pytest

from biller_server.clients.registry import PartnerClients
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.deliveries import DeliveryEngine
from biller_server.jobs.engine import ConfirmationEngine
from biller_server.jobs.worker import Worker
from tests.jobs.conftest import START


class Turns:
    """Stands in for an engine's run_once: answers "there was a job" as many times as told, then "nothing"."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.calls = 0

    def __call__(self) -> bool:  # set on the class, it is not bound: no engine argument
        self.calls += 1
        if self.jobs > 0:
            self.jobs -= 1
            return True
        return False


@pytest.fixture
def one_thread_worker(bound_sessionmaker):
    return Worker(
        sessions=bound_sessionmaker,
        clients=lambda: PartnerClients(clients={}),
        clock=FakeClock(START),
        concurrency=1,
        poll_interval_seconds=60,
    )


def test_a_busy_worker_does_not_look_for_deliveries_again_within_a_poll_interval_after_finding_none(
    one_thread_worker, monkeypatch
):
    confirmations, deliveries = Turns(jobs=50), Turns(jobs=0)
    monkeypatch.setattr(ConfirmationEngine, "run_once", confirmations)
    monkeypatch.setattr(DeliveryEngine, "run_once", deliveries)

    assert one_thread_worker.run(once=True) == 50

    # The first turn looked and found none; the next look is the turn on which confirmations ran dry.
    assert confirmations.calls == 51
    assert deliveries.calls == 2


def test_a_busy_worker_keeps_delivering_on_every_turn_while_deliveries_are_found(one_thread_worker, monkeypatch):
    confirmations, deliveries = Turns(jobs=5), Turns(jobs=3)
    monkeypatch.setattr(ConfirmationEngine, "run_once", confirmations)
    monkeypatch.setattr(DeliveryEngine, "run_once", deliveries)

    assert one_thread_worker.run(once=True) == 5

    # Turns 1-3 delivered; turn 4 found none (next look in 60 s); turn 5 skipped; turn 6 had no confirmation, so
    # it looked again before the worker gave up.
    assert deliveries.jobs == 0
    assert deliveries.calls == 5


def test_an_idle_worker_looks_for_both_on_every_turn(one_thread_worker, monkeypatch):
    confirmations, deliveries = Turns(jobs=0), Turns(jobs=4)
    monkeypatch.setattr(ConfirmationEngine, "run_once", confirmations)
    monkeypatch.setattr(DeliveryEngine, "run_once", deliveries)

    assert one_thread_worker.run(once=True) == 4

    assert (confirmations.calls, deliveries.calls) == (5, 5)
