"""Workers' heartbeats: written while a worker runs, gone when it stops, and exported for every host to see."""

from __future__ import annotations

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families

from biller_server.clients.registry import PartnerClients
from biller_server.domain.health import FORGET_AFTER
from biller_server.domain.health import heartbeats as read_heartbeats
from biller_server.jobs import heartbeats
from biller_server.jobs import worker as worker_module
from biller_server.jobs.clock import FakeClock
from biller_server.jobs.engine import ConfirmationEngine
from biller_server.jobs.heartbeats import beat, forget
from biller_server.jobs.worker import Worker
from tests.jobs.conftest import START


def _beat(session, name: str, at: dt.datetime) -> None:
    beat(session=session, name=name, host="host-1", pid=42, started_at=START, last_poll_at=at)
    session.flush()


def test_a_beat_records_the_last_poll_and_a_later_one_replaces_it(session):
    _beat(session, "host-1:serve-8000", START)
    _beat(session, "host-1:serve-8000", START + dt.timedelta(seconds=5))

    [heartbeat] = read_heartbeats(session, now=START + dt.timedelta(seconds=6))
    assert (heartbeat.name, heartbeat.last_poll_at, heartbeat.age_seconds(START + dt.timedelta(seconds=6))) == (
        "host-1:serve-8000",
        START + dt.timedelta(seconds=5),
        1.0,
    )
    assert heartbeat.is_stale(START + dt.timedelta(seconds=200), stale_after_seconds=120)


def test_a_worker_stopped_gracefully_leaves_no_row_and_one_long_gone_is_forgotten(session):
    _beat(session, "stopped", START)
    _beat(session, "killed-last-week", START - FORGET_AFTER - dt.timedelta(days=6))

    forget(session=session, name="stopped")
    heartbeats.forget_long_gone(session=session, now=START)
    session.flush()

    assert read_heartbeats(session, now=START) == []


def test_a_running_worker_beats_and_forgets_its_heartbeat_when_it_stops(bound_sessionmaker, monkeypatch):
    written: list[tuple[str, str]] = []
    monkeypatch.setattr(worker_module.heartbeats, "beat", lambda *, session, name, **_: written.append(("beat", name)))
    monkeypatch.setattr(worker_module.heartbeats, "forget", lambda *, session, name: written.append(("forget", name)))
    turns = []

    def idle_turn(engine):
        turns.append(1)
        if len(turns) == 3:
            worker.request_stop()
        return False

    monkeypatch.setattr(ConfirmationEngine, "run_once", idle_turn)
    worker = Worker(
        sessions=bound_sessionmaker,
        clients=lambda: PartnerClients(clients={}),
        clock=FakeClock(START),
        poll_interval_seconds=0.01,
        name="host-1:worker",
        heartbeat_interval_seconds=60,
    )

    worker.run()

    assert written == [("beat", "host-1:worker"), ("forget", "host-1:worker")]


def test_worker_once_writes_no_heartbeat(bound_sessionmaker, monkeypatch):
    monkeypatch.setattr(worker_module.heartbeats, "beat", lambda **_: (_ for _ in ()).throw(AssertionError("beat")))
    worker = Worker(sessions=bound_sessionmaker, clients=lambda: PartnerClients(clients={}), clock=FakeClock(START))

    assert worker.run(once=True) == 0


def test_metrics_export_every_workers_last_poll(client, session):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _beat(session, "host-1:serve-8000", now)
    _beat(session, "host-2:worker", now - dt.timedelta(seconds=30))

    families = {family.name: family for family in text_string_to_metric_families(client.get("/metrics").text)}

    samples = {
        sample.labels["worker"]: sample.value
        for sample in families["biller_worker_heartbeat_timestamp_seconds"].samples
    }
    assert samples == {"host-1:serve-8000": now.timestamp(), "host-2:worker": now.timestamp() - 30}
