"""``GET /metrics``: Prometheus text format, for the whole host (every gunicorn worker) and for the books.

Two kinds of figures:

- counters and histograms kept by the processes themselves (requests, partner calls; biller_server/instruments.py),
  added up over every process of the host in multiprocess mode;
- gauges read from the database at scrape time (payments by channel and state, the job queue's depth and lag,
  notifications held for reconciliation, recent outbound call errors). Every API host reports the same database
  figures: aggregate them with ``max``, not ``sum`` (docs/operations.md).

When ``BILLER_METRICS_TOKEN`` is set the endpoint needs ``Authorization: Bearer <token>``. Without one it is open
in development and test, and closed (403) with ``BILLER_ENV=production``: the figures describe the books.

Every label is bounded, whoever sends the request (unauthenticated ones are counted too): the method is one of
``KNOWN_METHODS`` or ``OTHER``, the endpoint is the matched URL rule or ``<unmatched>``, the status is a code.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session

from biller_server.domain.health import heartbeats
from biller_server.domain.india import IST
from biller_server.domain.reports.today import PARTNER_HEALTH_WINDOW, partner_call_counts
from biller_server.domain.settlement import unreconciled_older_than_a_day
from biller_server.extensions import get_db, get_settings
from biller_server.http.channels import REGISTRY_KEY
from biller_server.http.landing import BUILD_KEY
from biller_server.http.metrics_activity import BuildInfoCollector, activity_families
from biller_server.http.state import request_state
from biller_server.instruments import HTTP_LATENCY, HTTP_REQUESTS, INSTRUMENTS, multiprocess_dir
from biller_server.jobs.queue import due_jobs
from biller_server.persistence.models import (
    Channel,
    Job,
    JobKind,
    JobState,
    Payment,
    PaymentNotification,
    PaymentStatus,
)
from biller_server.persistence.types import utcnow

logger = logging.getLogger("biller_server.metrics")

blueprint = Blueprint("metrics", __name__)

UNMATCHED_ROUTE = "<unmatched>"
# gunicorn accepts any method of 3 to 20 capital letters: anything else is counted as one label, never its own.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


def init_metrics(app: Flask) -> None:
    """Serve /metrics and time every request of the app."""
    app.register_blueprint(blueprint)
    app.before_request(_start_timer)
    app.after_request(_count_request)


def _start_timer() -> None:
    request_state()["metrics_started"] = time.perf_counter()


def _count_request(response: Response) -> Response:
    # The URL rule, never the raw path: a path carrying ids would make a new series per request.
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    method = method_label(request.method)
    _requests(method, endpoint, response.status_code).inc()
    started = request_state().get("metrics_started")
    if started is not None:
        _latency(method, endpoint).observe(time.perf_counter() - started)
    return response


# Each series' child, found once: labels() takes a lock and builds its key on every call. The label values are
# bounded (known methods, the app's routes, HTTP statuses), and so are these caches.
@functools.cache
def _requests(method: str, endpoint: str, status: int) -> Any:
    return HTTP_REQUESTS.labels(method, endpoint, str(status))


@functools.cache
def _latency(method: str, endpoint: str) -> Any:
    return HTTP_LATENCY.labels(method, endpoint)


def method_label(method: str) -> str:
    """The ``method`` label: a known HTTP method as is, anything else ``OTHER`` (a client picks the method)."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition: this host's processes' counters plus the database's gauges."""
    settings = get_settings()
    token = settings.metrics_token
    if token is None and settings.is_production:
        # Fail closed: production serves the figures only to a scraper holding BILLER_METRICS_TOKEN.
        return Response(
            "metrics are closed: set BILLER_METRICS_TOKEN and scrape with Authorization: Bearer <token>\n",
            status=403,
            mimetype="text/plain",
        )
    if token is not None and not _bearer_matches(token.get_secret_value()):
        return Response(
            "metrics need a bearer token\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(INSTRUMENTS)  # type: ignore[arg-type]  # a registry is a collector too
    registry.register(BuildInfoCollector(current_app.extensions[BUILD_KEY]))  # type: ignore[arg-type]
    channels = [spec.name for spec in current_app.extensions[REGISTRY_KEY].channels]
    collector = DatabaseCollector(
        get_db().new_session,
        channels=channels,
        never_settled_after_days=settings.settlement_expected_within_days,
    )
    registry.register(collector)  # type: ignore[arg-type]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _bearer_matches(expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


class DatabaseCollector:
    """Gauges read from the books at scrape time; a database that does not answer gives biller_database_up 0."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        now: Callable[[], dt.datetime] = utcnow,
        channels: Iterable[str] = (),
        never_settled_after_days: int = 3,
    ) -> None:
        self.sessions = sessions
        self.now = now
        self.channels = tuple(channels)  # the enabled channels: each one's partner is watched for silence
        self.never_settled_after_days = never_settled_after_days

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("biller_database_up", "1 when the database answered this scrape's queries, else 0.")
        try:
            with self.sessions() as session:
                families = list(self._families(session, self.now()))
        except Exception:
            logger.exception("metrics: the database did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        payments = GaugeMetricFamily(
            "biller_payments", "Payments in the books, by channel and status (all days).", labels=["channel", "status"]
        )
        counts = {(c.value, s.value): 0 for c in Channel for s in PaymentStatus}
        rows = session.execute(
            sa.select(Payment.channel, Payment.status, sa.func.count()).group_by(Payment.channel, Payment.status)
        )
        for channel, status, count in rows:
            counts[(channel.value, status.value)] = count
        for (channel, status), count in sorted(counts.items()):
            payments.add_metric([channel, status], count)
        yield payments

        flagged = GaugeMetricFamily(
            "biller_payments_flagged",
            "Payments flagged because a partner contradicted their final status; a person must look.",
            labels=["channel"],
        )
        flagged_counts = {c.value: 0 for c in Channel}
        rows = session.execute(
            sa.select(Payment.channel, sa.func.count()).where(Payment.flagged.is_(True)).group_by(Payment.channel)
        )
        for channel, count in rows:
            flagged_counts[channel.value] = count
        for channel, count in sorted(flagged_counts.items()):
            flagged.add_metric([channel], count)
        yield flagged

        jobs = GaugeMetricFamily(
            "biller_jobs",
            "Jobs not done, by kind and state: pending (queued or being worked), stopped, unresolved.",
            labels=["kind", "state"],
        )
        job_counts = {(k.value, s.value): 0 for k in JobKind for s in JobState if s is not JobState.DONE}
        rows = session.execute(
            sa.select(Job.kind, Job.state, sa.func.count())
            .where(Job.state != JobState.DONE)
            .group_by(Job.kind, Job.state)
        )
        for kind, state, count in rows:
            job_counts[(kind.value, state.value)] = count
        for (kind, state), count in sorted(job_counts.items()):
            jobs.add_metric([kind, state], count)
        yield jobs

        due = GaugeMetricFamily(
            "biller_jobs_due", "Pending jobs whose time has come (the confirmation queue's depth).", labels=["kind"]
        )
        lag = GaugeMetricFamily(
            "biller_jobs_oldest_due_age_seconds",
            "How long the oldest due pending job has waited past its due time (queue lag); 0 when none is due.",
            labels=["kind"],
        )
        due_counts = {kind.value: figures for kind, figures in due_jobs(session=session, now=now).items()}
        for kind, (count, age) in sorted(due_counts.items()):
            due.add_metric([kind], count)
            lag.add_metric([kind], age)
        yield due
        yield lag

        held = GaugeMetricFamily(
            "biller_notifications_needing_reconciliation",
            "Partner payment notifications held for a person: unknown payment, or contradicting a final status.",
            labels=["channel"],
        )
        held_counts = {c.value: 0 for c in Channel}
        rows = session.execute(
            sa.select(PaymentNotification.channel, sa.func.count())
            .where(PaymentNotification.needs_reconciliation.is_(True))
            .group_by(PaymentNotification.channel)
        )
        for channel, count in rows:
            held_counts[channel.value] = count
        for channel, count in sorted(held_counts.items()):
            held.add_metric([channel], count)
        yield held

        recent = GaugeMetricFamily(
            "biller_partner_calls_recent",
            "Outbound calls recorded in the last 15 minutes by every worker of every host, by partner and result "
            "(error: no usable answer).",
            labels=["partner", "result"],
        )
        # The same counts as the console's partner health (one rule for "a usable answer").
        for partner, (ok, errors) in sorted(
            partner_call_counts(session=session, since=now - PARTNER_HEALTH_WINDOW).items()
        ):
            recent.add_metric([partner, "error"], errors)
            recent.add_metric([partner, "ok"], ok)
        yield recent

        beats = GaugeMetricFamily(
            "biller_worker_heartbeat_timestamp_seconds",
            "Unix time of each worker's last poll of the queue (the workers table: every worker of every host).",
            labels=["worker"],
        )
        for heartbeat in heartbeats(session, now=now):
            beats.add_metric([heartbeat.name], heartbeat.last_poll_at.timestamp())
        yield beats
        yield from activity_families(session, now=now, channels=self.channels)
        yield from self._unreconciled(session, now)

    def _unreconciled(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        """Settlement reconciliation's open breaks from before yesterday (docs/reconciliation.md)."""
        amount = GaugeMetricFamily(
            "biller_unreconciled_paise",
            "Money open reconciliation breaks of the days before yesterday (India) leave unexplained, in paise, "
            "by kind (settled not in bank, in bank unknown, amount differs, never settled...).",
            labels=["kind"],
        )
        count = GaugeMetricFamily(
            "biller_unreconciled_breaks",
            "Open (unacknowledged) reconciliation breaks of the days before yesterday (India), by kind.",
            labels=["kind"],
        )
        figures = unreconciled_older_than_a_day(
            session=session,
            today=now.astimezone(IST).date(),
            never_settled_after_days=self.never_settled_after_days,
            now=now,
        )
        for kind, figure in sorted(figures.items()):
            amount.add_metric([kind.value], figure.paise)
            count.add_metric([kind.value], figure.breaks)
        yield amount
        yield count
