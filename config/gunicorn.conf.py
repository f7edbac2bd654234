"""Gunicorn settings for biller-server in production: ``biller-server serve --gunicorn-config config/gunicorn.conf.py``.

The service is I/O-bound (the database, partners' networks), so each worker process runs threads (gthread): a
request waiting on PostgreSQL holds a thread, not a process. Flags given to ``serve`` (--workers, --threads,
--timeout, --host, --port) win over the values here.

Works with plain gunicorn too (``gunicorn -c config/gunicorn.conf.py 'biller_server.app:create_app()'``), but then
PROMETHEUS_MULTIPROC_DIR must be set to an empty directory before it starts (``serve`` does that itself).
See docs/operations.md.
"""

import os

# Processes: two per core. Each process runs Python one thread at a time (the GIL), and on a small host the
# processes also share the cores with PostgreSQL; twice as many processes as cores keeps the cores busy while some
# threads wait on the database or a worker restarts (max_requests below: a restarting worker answers nothing for
# about a second). Measured on 2 cores (bench/RESULTS.md, "Serving"): 4 processes answer more requests than 2.
# At least 2, so one worker restarting never leaves the host without an answer.
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, 2 * (os.cpu_count() or 1)))
# gthread, with a deadline on each request's headers and body and JSON answers to malformed requests
# (biller_server/http/gunicorn_worker.py; BILLER_REQUEST_HEADER_TIMEOUT_SECONDS, BILLER_REQUEST_BODY_TIMEOUT_SECONDS).
worker_class = "biller_server.http.gunicorn_worker.BoundedThreadWorker"
threads = 8
# Keep workers x threads within the database pool: BILLER_DATABASE_POOL_SIZE (+ as many overflow) per worker, and
# workers x threads (+ the confirmation workers' threads) within PostgreSQL's max_connections.

# Build the app once in the master and fork the workers from it: a worker replaced after max_requests starts at
# once (no imports, no app to build) and the workers share the app's memory until they write to it. Safe here
# because building the app opens no connection (each worker's pool fills after the fork) and the Prometheus
# values are created per process on first use.
preload_app = True

# A request that takes longer than this is stuck (partner calls are never made on a request; the database has its
# statement timeout): the worker is killed and replaced.
timeout = 30
# On SIGTERM (a deploy, a scale-in) workers stop accepting and get this long to finish the requests in hand.
graceful_timeout = 30
# Idle keep-alive connections are held this long. Behind a load balancer keep it ABOVE the balancer's idle timeout
# (AWS ALB: 60 s), or the balancer may reuse a connection we have just closed and answer a 502.
keepalive = 75

# Restart each worker after about this many requests (the jitter spreads the restarts apart), so slow leaks in
# any library never grow without bound. Not lower: at 5,000 a worker restarted every 10-100 s under load, which
# halved the throughput of /healthz and put 79 ms in its p99 (bench/RESULTS.md, "Serving").
max_requests = 100_000
max_requests_jitter = 10_000

# The worker heartbeat file: in memory where there is /dev/shm (a slow disk must not make workers look hung).
if os.path.isdir("/dev/shm"):  # noqa: S108 (a heartbeat file, not data)
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# The app writes one JSON line per request itself (with the request id); gunicorn's own access log would repeat it.
accesslog = None
errorlog = "-"
# gunicorn's own lines (a worker booting, exiting, killed) as JSON too, like every other line.
logger_class = "biller_server.http.gunicorn_logging.JSONLogger"


def child_exit(server, worker):
    """A worker exited (restart, crash, shutdown): drop its live gauges from the Prometheus multiprocess files.

    Its counters and histograms stay, so totals never go backwards when a worker is replaced.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
