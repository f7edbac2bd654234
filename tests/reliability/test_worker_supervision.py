"""The confirmation worker under ``serve`` is watched: killed, it is logged and restarted with back-off, and /readyz
reports it while it is down."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests

from biller_server.cli.supervision import WorkerSupervisor
from tests.reliability.live import LiveServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _exits(code: int) -> Callable[[], subprocess.Popen[bytes]]:
    return lambda: subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])


def _wait_until_reaped(supervisor: WorkerSupervisor) -> None:
    deadline = time.monotonic() + 30
    while supervisor.process is not None and time.monotonic() < deadline:
        supervisor.reap()
        time.sleep(0.02)
    assert supervisor.process is None


def test_each_death_is_logged_and_the_restart_waits_twice_as_long_each_time(caplog):
    clock = FakeClock()
    supervisor = WorkerSupervisor(_exits(3), clock=clock, first_delay=1, max_delay=4, healthy_after=60)
    supervisor.start()
    delays = []
    with caplog.at_level(logging.ERROR, logger="biller_server.serve"):
        for _ in range(4):
            _wait_until_reaped(supervisor)
            delays.append(supervisor.restart_at - clock.now)
            supervisor.tick()
            assert supervisor.process is None  # not before its time
            clock.now = supervisor.restart_at
            supervisor.tick()
            assert supervisor.process is not None  # restarted
        _wait_until_reaped(supervisor)

    assert delays == [1, 2, 4, 4]
    assert caplog.records[0].getMessage().startswith("the confirmation worker (pid ")
    assert "exited with status 3 after 0.0 s; restarting it in 1 s" in caplog.records[0].getMessage()
    assert caplog.records[0].fields["deaths"] == 1


def test_a_worker_that_ran_a_while_is_restarted_after_the_first_delay_again():
    clock = FakeClock()
    supervisor = WorkerSupervisor(_exits(1), clock=clock, first_delay=1, max_delay=60, healthy_after=60)
    supervisor.start()
    for _ in range(3):  # three quick deaths: the next wait would be 8 s
        _wait_until_reaped(supervisor)
        clock.now = supervisor.restart_at
        supervisor.tick()
    clock.now += 61  # this one ran for a minute

    _wait_until_reaped(supervisor)

    assert supervisor.restart_at - clock.now == 1


def test_no_restart_once_stopping():
    clock = FakeClock()
    supervisor = WorkerSupervisor(_exits(0), clock=clock)
    supervisor.start()
    supervisor.stopping = True

    _wait_until_reaped(supervisor)
    clock.now += 3600
    supervisor.tick()

    assert supervisor.process is None and supervisor.restart_at is None


def _readyz(server: LiveServer) -> tuple[int, dict]:
    response = requests.get(f"{server.base_url}/readyz", timeout=5)
    return response.status_code, response.json()


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting until {what}")


def test_a_killed_worker_under_serve_is_restarted_and_readyz_reports_it_while_down(tmp_path):
    env = {"BILLER_WORKER_STALE_SECONDS": "1", "BILLER_INSTANCE_DIR": str(tmp_path), "BILLER_LOG_LEVEL": "INFO"}
    log_path = tmp_path / "serve.log"
    with LiveServer(f"sqlite:///{tmp_path / 'biller.sqlite3'}", log_path, workers=1, env=env) as server:
        _wait_for(lambda: _readyz(server)[1]["workers"]["status"] == "ok", "the worker polls")
        [first] = server.confirmation_worker_pids()

        os.kill(first, signal.SIGKILL)

        status, body = _wait_for(
            lambda: (answer := _readyz(server))[1]["workers"]["status"] == "stale" and answer, "/readyz reports it"
        )
        assert status == 200 and body["status"] == "degraded"  # the API itself keeps answering
        assert body["workers"]["stale"][0]["name"].endswith(f":serve-{server.port}")
        restarted = _wait_for(lambda: [pid for pid in server.confirmation_worker_pids() if pid != first], "restarted")
        _wait_for(lambda: _readyz(server)[1]["workers"]["status"] == "ok", "the new worker polls")
        assert len(restarted) == 1
        assert _readyz(server)[1]["workers"]["polling"] == 1  # the same name: it continues the heartbeat's row

    lines = [json.loads(line) for line in log_path.read_text().splitlines()]  # every line JSON, gunicorn's too
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    deaths = [line for line in lines if "confirmation worker (pid" in line["message"]]
    assert [death["message"] for death in deaths] == [
        f"the confirmation worker (pid {first}) was killed by SIGKILL after {deaths[0]['ran_seconds']:.1f} s; "
        "restarting it in 1 s"
    ]
    assert deaths[0]["level"] == "error" and deaths[0]["logger"] == "biller_server.serve"
