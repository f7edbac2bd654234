"""The worker loop behind ``biller-server worker``: N threads, each carrying out one job at a time.

The threads claim confirmations N at a time and record their answers together (``engine.ConfirmationBatch``).
SIGTERM or SIGINT asks it to stop: every thread finishes the job it holds (its calls are bounded by the partner
timeouts), the answers are recorded and the claimed jobs nobody started are given back, and it exits. What is held
in memory between transactions (claimed jobs, answers) is held under a lease, so even SIGKILL loses nothing: the
leases run out and another worker takes the jobs (and asks again what an unrecorded answer said).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from sqlalchemy.orm import Session

from biller_server.jobs import heartbeats
from biller_server.jobs.clock import Clock, SystemClock
from biller_server.jobs.deliveries import DeliveryEngine
from biller_server.jobs.engine import DEFAULT_LEASE, ConfirmationBatch, ConfirmationEngine
from biller_server.jobs.queue import PartnerClientSource

logger = logging.getLogger("biller_server.jobs")


class Worker:
    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        clients: Callable[[], PartnerClientSource],
        clock: Clock | None = None,
        concurrency: int = 1,
        poll_interval_seconds: float = 1.0,
        lease: dt.timedelta = DEFAULT_LEASE,
        name: str | None = None,
        parent_pid: int | None = None,
        heartbeat_interval_seconds: float | None = None,
    ) -> None:
        self.sessions = sessions
        self.clients = clients
        self.clock = clock or SystemClock()
        self.concurrency = concurrency
        self.poll_interval_seconds = poll_interval_seconds
        self.lease = lease
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.parent_pid = parent_pid
        # How often the worker writes its last poll to the ``workers`` table (None: never, e.g. ``--once``).
        self.heartbeat_interval_seconds = heartbeat_interval_seconds
        self.stopping = threading.Event()
        self._processed = 0
        self._failed_turns = 0
        self._failed_attempts = 0
        self._count_lock = threading.Lock()
        self._started_at = self.clock.now()
        self._last_poll_at: dt.datetime | None = None
        self._next_beat = 0.0

    @property
    def failed_turns(self) -> int:
        """Turns that ended in an error (the database down, a statement that failed), over all threads."""
        with self._count_lock:
            return self._failed_turns

    @property
    def failed_attempts(self) -> int:
        """Jobs whose partner gave no usable answer, over all threads (each logged and counted as it happened)."""
        with self._count_lock:
            return self._failed_attempts

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if not self.stopping.is_set():
            logger.info("worker %s stopping (signal %s): finishing the jobs in hand", self.name, signum)
        self.stopping.set()

    @contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """While inside, SIGTERM and SIGINT ask the worker to stop gracefully; the old handlers come back after."""
        previous = {signum: signal.signal(signum, self.request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def run(self, *, once: bool = False) -> int:
        """Work until asked to stop (or, with ``once``, until nothing is due); return the number of jobs done.

        ``failed_turns`` says afterwards how many turns failed: with ``once``, a thread stops at its first failed
        turn, so "0 jobs done" may mean an outage as well as "nothing was due".
        """
        # Shared by the threads: they claim as many confirmations at a time as there are threads.
        batch = ConfirmationBatch(self.concurrency)
        threads = [
            threading.Thread(target=self._loop, args=(index, once, batch), name=f"worker-{index}", daemon=True)
            for index in range(self.concurrency)
        ]
        logger.info("worker %s started with %d thread(s)", self.name, len(threads))
        self._last_poll_at = self.clock.now()
        self._beat_if_due()
        for thread in threads:
            thread.start()
        for thread in threads:
            # Join in slices so the main thread keeps handling signals (and writes the heartbeat).
            while thread.is_alive():
                thread.join(0.2)
                if self.stopping.is_set():
                    batch.wake_all()  # idle threads wait on the batch, not on ``stopping``: end their pause
                self._beat_if_due()
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    self.request_stop()  # the serve process that started us is gone
        self._forget_heartbeat()
        logger.info("worker %s stopped after %d job(s)", self.name, self._processed)
        return self._processed

    def _beat_if_due(self) -> None:
        """Write the last poll time to the ``workers`` table every heartbeat interval (from the main thread)."""
        if self.heartbeat_interval_seconds is None or self._last_poll_at is None:
            return
        if time.monotonic() < self._next_beat:
            return
        first = self._next_beat == 0.0
        self._next_beat = time.monotonic() + self.heartbeat_interval_seconds
        try:
            with self.sessions() as session, session.begin():
                if first:  # and prune rows of workers long gone
                    heartbeats.forget_long_gone(session=session, now=self._started_at)
                heartbeats.beat(
                    session=session,
                    name=self.name,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=self._started_at,
                    last_poll_at=self._last_poll_at,
                )
        except Exception:
            # The database is down: the heartbeat goes stale, which is the truth (no job can be claimed either).
            logger.exception("worker %s: could not write its heartbeat", self.name)

    def _forget_heartbeat(self) -> None:
        if self.heartbeat_interval_seconds is None:
            return
        try:
            with self.sessions() as session, session.begin():
                heartbeats.forget(session=session, name=self.name)
        except Exception:
            logger.exception("worker %s: could not remove its heartbeat", self.name)

    def _loop(self, index: int, once: bool, batch: ConfirmationBatch) -> None:
        clients = self.clients()
        engine = ConfirmationEngine(
            sessions=self.sessions,
            clients=clients,
            clock=self.clock,
            worker_id=f"{self.name}/{index}",
            lease=self.lease,
            batch=batch,
        )
        deliveries = DeliveryEngine(
            sessions=self.sessions,
            clients=clients,
            clock=self.clock,
            worker_id=f"{self.name}/{index}",
            lease=self.lease,
        )
        # When the last look for deliveries found none, the next look waits a poll interval even while
        # confirmations keep the thread busy: an empty claim is a whole transaction, and most turns would pay it
        # for nothing (12 % of a busy worker's time, bench/RESULTS.md). A delivery then waits at most that long
        # plus the confirmation in hand, as it would on an idle worker.
        next_delivery_look = 0.0
        try:
            while not self.stopping.is_set():
                try:
                    # Confirmations and deliveries share the thread: one due job of each kind per turn, so
                    # neither can starve the other.
                    confirmed = engine.run_once()
                    delivered = False
                    if not confirmed or time.monotonic() >= next_delivery_look:
                        delivered = deliveries.run_once()
                        if not delivered:
                            next_delivery_look = time.monotonic() + self.poll_interval_seconds
                    worked = confirmed or delivered
                    self._last_poll_at = self.clock.now()
                except Exception:
                    # The database is down or a statement failed: the claim (if any) rolled back or its lease
                    # will run out. Wait and try again rather than die.
                    logger.exception("worker %s: error while working a job", engine.worker_id)
                    with self._count_lock:
                        self._failed_turns += 1
                    worked = False
                    if once:
                        break
                if worked:
                    with self._count_lock:
                        self._processed += 1
                    continue
                if once:
                    break
                batch.wait_for_work(self.poll_interval_seconds)
        finally:
            try:
                # Every thread on its way out: the last one records what the others handed in after they left.
                engine.settle()
            except Exception:
                # The answers are lost, not the work: their calls are written down and their leases run out.
                logger.exception("worker %s: could not record the last answers", engine.worker_id)
                with self._count_lock:
                    self._failed_turns += 1
            with self._count_lock:
                self._failed_attempts += engine.failed_attempts + deliveries.failed_attempts
            clients.close()
