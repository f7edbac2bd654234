"""``biller-server worker``: confirm payments with the partners, on the durable schedule in the database."""

from __future__ import annotations

import datetime as dt
import logging

import click
from flask.cli import with_appcontext

from biller_server.cli.problems import require_production_settings
from biller_server.clients.registry import PartnerClients
from biller_server.config import Settings
from biller_server.extensions import get_db, get_settings
from biller_server.jobs.worker import Worker

logger = logging.getLogger("biller_server.jobs")

# The heartbeat is written a few times within the stale limit, and at most every 10 s (a write each time).
MAX_HEARTBEAT_INTERVAL_SECONDS = 10.0


@click.command("worker")
@click.option(
    "--once",
    is_flag=True,
    help="Work every job due now, then exit (for cron or a one-off catch-up); exit status 1 if an attempt or a "
    "turn failed.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Jobs worked at once (threads). Default: BILLER_WORKER_CONCURRENCY.",
)
@click.option(
    "--name",
    default=None,
    help="The worker's name in its heartbeat (status, /readyz, metrics). Default: host:pid; give a worker that a "
    "service manager restarts a stable name (e.g. the host's), so that a restart continues its heartbeat.",
)
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Exit when this process is gone (serve).")
@with_appcontext
def worker_command(once: bool, concurrency: int | None, name: str | None, parent_pid: int | None) -> None:
    """Confirm payments and post offline payments; stop gracefully on SIGTERM or Ctrl-C."""
    settings = get_settings()
    require_production_settings(settings)
    warn_unconfigured_confirmers(settings)
    database = get_db()
    worker = Worker(
        sessions=database.new_session,
        clients=lambda: PartnerClients(settings),
        concurrency=concurrency or settings.worker_concurrency,
        poll_interval_seconds=settings.worker_poll_interval_seconds,
        lease=dt.timedelta(seconds=settings.worker_lease_seconds),
        name=name,
        parent_pid=parent_pid,
        heartbeat_interval_seconds=None if once else heartbeat_interval(settings),
    )
    with worker.stop_on_signals():
        processed = worker.run(once=once)
    if once:
        click.echo(f"{processed} job(s) worked")
        if worker.failed_turns or worker.failed_attempts:
            # Cron must tell an outage from "nothing was due": each failure is one JSON line in the log.
            click.echo(
                f"Error: {worker.failed_attempts} attempt(s) and {worker.failed_turns} turn(s) failed "
                "(one JSON line each in the log); exiting with status 1",
                err=True,
            )
            click.get_current_context().exit(1)


def heartbeat_interval(settings: Settings) -> float:
    return min(settings.worker_stale_seconds / 4, MAX_HEARTBEAT_INTERVAL_SECONDS)


def warn_unconfigured_confirmers(settings: Settings) -> None:
    """Outside production, a confirmer without its URL can never confirm a payment: say so at start, once per
    partner (production refuses to start instead)."""
    for partner, (channels, missing) in settings.unconfigured_confirmers().items():
        logger.warning(
            "%s payments can never be confirmed: %s confirms them and %s not set (set it, or "
            "BILLER_<CHANNEL>_CONFIRMED_BY=fake to try the server out)",
            ", ".join(channels),
            partner,
            " and ".join(missing) + (" is" if len(missing) == 1 else " are"),
            extra={"fields": {"partner": partner, "channels": channels, "missing": missing}},
        )
