"""The database connection pool, with its figures for Prometheus: connections in use, idle and in overflow, how
often a checkout had to wait for a connection and for how long, and how often it gave up.

SQLAlchemy's QueuePool, unchanged in behaviour; it only reports. Waits are what the pool's own status cannot show
after the fact: a request that waited most of BILLER_DATABASE_POOL_TIMEOUT_SECONDS for a connection looks like a
slow database from the outside.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from biller_server.instruments import (
    DB_POOL_CONNECTIONS,
    DB_POOL_MAX,
    DB_POOL_OVERFLOW,
    DB_POOL_TIMEOUTS,
    DB_POOL_WAIT_SECONDS,
    DB_POOL_WAITS,
)

logger = logging.getLogger(__name__)
_report_failed = False


class InstrumentedQueuePool(QueuePool):
    """A QueuePool that keeps this process's pool gauges current and counts the checkouts that waited."""

    dialect_label = "unknown"  # set per database by instrumented_pool()

    def __init__(self, creator: Any, pool_size: int = 5, max_overflow: int = 10, **kw: Any) -> None:
        super().__init__(creator, pool_size=pool_size, max_overflow=max_overflow, **kw)
        # max_overflow -1 means no limit: a checkout then never waits.
        self.limit = pool_size + max_overflow if max_overflow >= 0 and pool_size > 0 else None
        # Nothing is reported until the first checkout: a pool built but never used (serve's parent process, which
        # forks gunicorn's workers) must not count in the host's figures.
        self._gauges: tuple[Any, ...] | None = None

    def _do_get(self) -> ConnectionPoolEntry:
        full = self.limit is not None and self.checkedout() >= self.limit
        started = time.perf_counter()
        try:
            return super()._do_get()
        except sa.exc.TimeoutError:
            DB_POOL_TIMEOUTS.labels(self.dialect_label).inc()
            raise
        finally:
            if full:
                DB_POOL_WAITS.labels(self.dialect_label).inc()
                DB_POOL_WAIT_SECONDS.labels(self.dialect_label).inc(time.perf_counter() - started)
            self._report()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._report()

    def _report(self) -> None:
        # checkedout() counts connections handed out; checkedin() those waiting in the pool. Each gauge is written on
        # every report (no lock, no memory of the last values: a connection returned by the garbage collector may
        # report from inside a report), through children found once (labels() locks and builds a key per call).
        try:
            gauges = self._gauges
            if gauges is None:
                gauges = self._gauges = (
                    DB_POOL_MAX.labels(self.dialect_label),
                    DB_POOL_CONNECTIONS.labels(self.dialect_label, "in_use"),
                    DB_POOL_CONNECTIONS.labels(self.dialect_label, "idle"),
                    DB_POOL_OVERFLOW.labels(self.dialect_label),
                )
            values = (self.limit or 0, max(self.checkedout(), 0), self.checkedin(), max(self.overflow(), 0))
            for gauge, value in zip(gauges, values, strict=True):
                gauge.set(value)
        except Exception:
            # A figure must never cost a checkout (e.g. the metrics directory went away at shutdown): say it once.
            global _report_failed
            if not _report_failed:
                _report_failed = True
                logger.warning("database pool figures could not be recorded", exc_info=True)


@functools.cache
def instrumented_pool(dialect: str) -> type[InstrumentedQueuePool]:
    """The pool class for one kind of database (``poolclass=``); the dialect is its label on every figure.

    A class, not an instance setting: SQLAlchemy builds a pool from its class alone (again after a dispose or an
    invalidation), so the label must travel with the class.
    """
    # SQLAlchemy names a pool's logger after its class's module: in ours, under biller_server (logged at INFO), every
    # command would print the pool's "Pool disposed" chatter. In SQLAlchemy's namespace it stays quiet as before.
    return type(
        f"InstrumentedQueuePool_{dialect}",
        (InstrumentedQueuePool,),
        {"dialect_label": dialect, "__module__": QueuePool.__module__},
    )
