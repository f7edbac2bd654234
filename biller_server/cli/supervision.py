"""The confirmation worker that ``serve`` runs beside gunicorn, kept alive by gunicorn's own master process.

A worker that dies (killed, out of memory, a crash) is logged, with how it ended, and started again after a
back-off: 1 s, then twice as long after each death in a row, at most 60 s; a worker that ran for a minute counts
as healthy again, so the next death waits 1 s. Meanwhile its heartbeat goes stale, which ``/readyz``, ``status``
and the alerts report.

Why in gunicorn's master (``SupervisingArbiter``): it already owns the children of ``serve`` and reaps them with
``waitpid(-1)``, which would swallow the worker's exit unseen. The arbiter reaps the worker first, by its pid, as
gunicorn does for its own "dirty arbiter", and checks on it once a second from its main loop.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from gunicorn.arbiter import Arbiter

logger = logging.getLogger("biller_server.serve")

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
HEALTHY_AFTER_SECONDS = 60.0


class WorkerSupervisor:
    """Start the worker, notice its death, restart it with back-off; stop it for good on shutdown."""

    def __init__(
        self,
        start: Callable[[], subprocess.Popen[bytes]],
        *,
        clock: Callable[[], float] = time.monotonic,
        first_delay: float = FIRST_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        healthy_after: float = HEALTHY_AFTER_SECONDS,
    ) -> None:
        self._start = start
        self.clock = clock
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.healthy_after = healthy_after
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.delay = first_delay
        self.restart_at: float | None = None
        self.deaths = 0
        self.stopping = False

    def start(self) -> None:
        self.process = self._start()
        self.started_at = self.clock()
        self.restart_at = None

    def reap(self) -> None:
        """See whether the worker has ended (without blocking); if so, log it and schedule its restart."""
        process = self.process
        if process is None:
            return
        try:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = process.pid, None  # reaped by someone else (gunicorn's waitpid(-1)): how it ended is lost
        if pid == 0:
            return
        process.returncode = _returncode(status)
        self.process = None
        if self.stopping:
            return
        ran = self.clock() - self.started_at
        self.delay = self.first_delay if ran >= self.healthy_after or self.deaths == 0 else self.delay
        self.deaths += 1
        self.restart_at = self.clock() + self.delay
        logger.error(
            "the confirmation worker (pid %s) %s after %.1f s; restarting it in %.0f s",
            process.pid,
            _how_it_ended(status),
            ran,
            self.delay,
            extra={
                "fields": {
                    "worker_pid": process.pid,
                    "exit": _how_it_ended(status),
                    "ran_seconds": round(ran, 1),
                    "restart_in_seconds": self.delay,
                    "deaths": self.deaths,
                }
            },
        )
        self.delay = min(self.delay * 2, self.max_delay)

    def tick(self) -> None:
        """Once a second from gunicorn's main loop: reap, and restart when the back-off is over."""
        self.reap()
        if (
            self.process is None
            and not self.stopping
            and self.restart_at is not None
            and self.clock() >= self.restart_at
        ):
            self.start()
            logger.info("the confirmation worker is running again (pid %s)", self.process.pid if self.process else "?")

    def stop(self, *, grace_seconds: float) -> None:
        """Shut down: no more restarts; SIGTERM lets the worker finish the job in hand (killed after the grace)."""
        self.stopping = True
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            stop_worker_process(process, grace_seconds=grace_seconds)
        self.process = None


def stop_worker_process(worker: subprocess.Popen[bytes], *, grace_seconds: float) -> None:
    """SIGTERM lets the worker finish the job in hand; it is killed only if it outlasts its lease."""
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _returncode(status: int | None) -> int:
    if status is None:
        return -1
    return os.waitstatus_to_exitcode(status)


def _how_it_ended(status: int | None) -> str:
    if status is None:
        return "ended (exit status unknown)"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


class SupervisingArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's master, also minding the confirmation worker (see the module's docstring)."""

    supervisor: WorkerSupervisor | None = None
    stop_grace_seconds: float = 120.0

    def start(self) -> None:
        super().start()
        # Only once the port is bound: a second `serve` started by mistake fails before it starts a worker.
        if self.supervisor is not None:
            self.supervisor.start()

    def handle_chld(self) -> None:
        # The worker first, by its pid: gunicorn's waitpid(-1) would reap it as an unknown child.
        if self.supervisor is not None:
            self.supervisor.reap()
        super().handle_chld()

    # gunicorn calls handle_cld or handle_chld, depending on which name its signal table holds for SIGCHLD.
    handle_cld = handle_chld

    def manage_workers(self) -> None:
        super().manage_workers()
        if self.supervisor is not None:
            self.supervisor.tick()

    def stop(self, graceful: bool = True) -> None:
        if self.supervisor is not None:
            # The worker is told to stop together with gunicorn's workers, and given its lease to finish.
            self.supervisor.stopping = True
            if self.supervisor.process is not None and self.supervisor.process.poll() is None:
                self.supervisor.process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        super().stop(graceful)
        if self.supervisor is not None:
            self.supervisor.stop(grace_seconds=self.stop_grace_seconds)


def run_arbiter(app: Any, supervisor: WorkerSupervisor | None, *, stop_grace_seconds: float) -> None:
    """Run gunicorn (``app``: a gunicorn application) with the worker supervised beside it."""
    arbiter = SupervisingArbiter(app)
    arbiter.supervisor = supervisor
    arbiter.stop_grace_seconds = stop_grace_seconds
    try:
        arbiter.run()
    finally:
        if supervisor is not None:
            supervisor.stop(grace_seconds=stop_grace_seconds)  # whatever ended gunicorn, the worker goes too
