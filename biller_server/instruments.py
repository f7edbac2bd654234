"""The Prometheus instruments every process updates (API requests, partner calls), and multiprocess mode.

Under gunicorn each worker is its own process, so a counter kept in memory would show one worker's share on each
scrape. In prometheus-client's multiprocess mode every process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up. ``biller-server serve`` prepares the directory and
sets the variable for its children (gunicorn's workers, the worker process); see docs/operations.md.

Every instrument here has labels, so no value exists until a process first uses it: a value is always created in
the process that updates it, after the mode is chosen.
"""

from __future__ import annotations

import fcntl
import os
import re
import warnings
from pathlib import Path
from typing import IO

import click
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Not the library's global registry: /metrics decides what it exposes (see biller_server/http/metrics.py).
INSTRUMENTS = CollectorRegistry()

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "biller_http_requests",
    "HTTP requests answered, by route (the URL rule, not the raw path) and status code.",
    ["method", "endpoint", "status"],
    registry=INSTRUMENTS,
)
HTTP_LATENCY = Histogram(
    "biller_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["method", "endpoint"],
    buckets=_LATENCY_BUCKETS,
    registry=INSTRUMENTS,
)
PARTNER_CALLS = Counter(
    "biller_partner_calls",
    "Outbound calls to partners and the lender's webhook, by result: 2xx, 3xx, 4xx, 5xx, timeout, connection_error.",
    ["partner", "operation", "result"],
    registry=INSTRUMENTS,
)
PARTNER_LATENCY = Histogram(
    "biller_partner_call_duration_seconds",
    "Time an outbound partner call took, answered or not.",
    ["partner", "operation"],
    buckets=_LATENCY_BUCKETS,
    registry=INSTRUMENTS,
)
JOB_ATTEMPT_FAILURES = Counter(
    "biller_job_attempt_failures",
    "Job attempts that got no usable answer (each retried on its schedule), by partner and class of error.",
    ["partner", "error_class"],
    registry=INSTRUMENTS,
)

# The database pool of each process (biller_server/persistence/pool.py). The gauges are this process's current
# figures; in multiprocess mode /metrics adds up the live processes of the host ("livesum"), and a gunicorn worker
# that exits drops out (config/gunicorn.conf.py's child_exit).
DB_POOL_CONNECTIONS = Gauge(
    "biller_db_pool_connections",
    "Open database connections of this host's processes, by state: in_use (checked out) or idle (in the pool).",
    ["dialect", "state"],
    multiprocess_mode="livesum",
    registry=INSTRUMENTS,
)
DB_POOL_OVERFLOW = Gauge(
    "biller_db_pool_overflow_connections",
    "Connections open beyond the pool size (BILLER_DATABASE_POOL_SIZE): the overflow, closed again when returned.",
    ["dialect"],
    multiprocess_mode="livesum",
    registry=INSTRUMENTS,
)
DB_POOL_MAX = Gauge(
    "biller_db_pool_max_connections",
    "How many connections the pools may open at most (pool size + overflow), added up over the processes.",
    ["dialect"],
    multiprocess_mode="livesum",
    registry=INSTRUMENTS,
)
DB_POOL_WAITS = Counter(
    "biller_db_pool_waits",
    "Checkouts that found every allowed connection in use and had to wait for one to be returned.",
    ["dialect"],
    registry=INSTRUMENTS,
)
DB_POOL_WAIT_SECONDS = Counter(
    "biller_db_pool_wait_seconds",
    "Time spent waiting for a connection by those checkouts (rate / rate of waits: the mean wait).",
    ["dialect"],
    registry=INSTRUMENTS,
)
DB_POOL_TIMEOUTS = Counter(
    "biller_db_pool_timeouts",
    "Checkouts that gave up after BILLER_DATABASE_POOL_TIMEOUT_SECONDS (the request failed as database unavailable).",
    ["dialect"],
    registry=INSTRUMENTS,
)


def observe_partner_call(*, partner: str, operation: str, result: str, seconds: float) -> None:
    PARTNER_CALLS.labels(partner, operation, result).inc()
    PARTNER_LATENCY.labels(partner, operation).observe(seconds)


def http_result(status: int) -> str:
    """A status code's class, the ``result`` label of a partner call that got an answer."""
    return f"{status // 100}xx"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


# The files prometheus-client writes in multiprocess mode (values.py: ``{type}_{pid}.db``, gauges with their mode).
_PROMETHEUS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_[A-Za-z0-9.-]+\.db")
# Files that would be ours, not prometheus-client's: a SQLite database and its journals (the instance folder).
_NOT_PROMETHEUS = re.compile(r".*\.(sqlite3?|db)(-wal|-shm|-journal)?", re.IGNORECASE)


class NotAMetricsDirectory(click.ClickException):
    """``PROMETHEUS_MULTIPROC_DIR`` names a directory holding files that are not prometheus-client's.

    A ``ClickException``: ``biller-server serve`` stops with its message (``Error: ...``, exit 1), no traceback.
    """


# Held by the serve that owns a multiprocess directory, for as long as it runs (gunicorn's workers share it).
LOCK_FILE = "serve.lock"


class MetricsDirectoryInUse(click.ClickException):
    """Another ``serve`` owns the directory: its metrics must not be touched."""


def claim_multiprocess_dir(path: Path) -> IO[str]:
    """Take the directory for this ``serve`` (an exclusive lock, held until the process ends), or stop, touching
    nothing, if a live server holds it: a second ``serve`` started by mistake must not empty the first one's
    metrics before it fails to bind the port. The lock goes with the process, even one killed outright."""
    path = path.resolve()
    if path.exists():
        _metrics_files(path)  # refuse a folder of ours (the instance folder named by mistake) before writing to it
    path.mkdir(parents=True, exist_ok=True)
    handle = (path / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise MetricsDirectoryInUse(
            f"{MULTIPROC_ENV}={path} belongs to a biller-server serve that is running (pid {owner}): is it already "
            "running? Stop it first, or give this one its own BILLER_INSTANCE_DIR (or PROMETHEUS_MULTIPROC_DIR)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _metrics_files(path: Path) -> list[Path]:
    """prometheus-client's files in ``path``; refused if ``path`` holds anything that looks like ours."""
    if not path.is_dir():
        raise NotAMetricsDirectory(f"{MULTIPROC_ENV}={path} is not a directory")
    entries = list(path.iterdir())
    metrics = [entry for entry in entries if _PROMETHEUS_FILE.fullmatch(entry.name) and entry.is_file()]
    suspects = sorted(entry.name for entry in entries if entry not in metrics and _NOT_PROMETHEUS.fullmatch(entry.name))
    if suspects:
        raise NotAMetricsDirectory(
            f"{MULTIPROC_ENV}={path} holds files that are not prometheus-client's ({', '.join(suspects[:5])}): "
            "refusing to empty it. Point it at a directory of its own (default <BILLER_INSTANCE_DIR>/prometheus)."
        )
    return metrics


def prepare_multiprocess_dir(path: Path) -> Path:
    """Create ``path`` empty of metrics, for a new run of ``serve``: call before any process that writes to it.

    The values of a previous run are removed (their processes are gone; counters start again from zero, which
    Prometheus reads as a restart); the caller holds the directory first (``claim_multiprocess_dir``). Only
    prometheus-client's own files are deleted (``counter_*.db``, ``gauge_*.db``, ``histogram_*.db``,
    ``summary_*.db``); anything else is left alone. A directory that holds
    something that looks like ours (a SQLite database: ``PROMETHEUS_MULTIPROC_DIR`` pointed at the instance folder
    by mistake) is refused before anything is deleted.
    """
    path = path.resolve()
    if path.exists():
        metrics = _metrics_files(path)
        for entry in metrics:
            entry.unlink(missing_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def use_multiprocess_values() -> None:
    """In a process forked after ``PROMETHEUS_MULTIPROC_DIR`` was set, make every new value file-backed.

    prometheus-client picks its value class when it is first imported, which in ``serve`` happened before the
    variable was set (the app imports it); a gunicorn worker forked from it calls this before it builds the app.
    A process started with the variable already set (``biller-server worker``, plain gunicorn) needs nothing.
    """
    if multiprocess_dir() and not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()
        # Values the parent made before the fork (serve's migrations use the database pool) are in memory, not in
        # files: drop them, so that this process makes its own, file-backed ones.
        # prometheus-client warns that clearing is not implemented for file-backed values: these are in memory.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Clearing labels has not been implemented", UserWarning)
            for instrument in (
                DB_POOL_CONNECTIONS,
                DB_POOL_OVERFLOW,
                DB_POOL_MAX,
                DB_POOL_WAITS,
                DB_POOL_WAIT_SECONDS,
                DB_POOL_TIMEOUTS,
            ):
                instrument.clear()
