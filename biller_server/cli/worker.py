"""``biller-server worker``: confirm payments with the partners, on the durable schedule in the database."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext

from biller_server.clients.registry import PartnerClients
from biller_server.extensions import get_db, get_settings
from biller_server.jobs.worker import Worker


@click.command("worker")
@click.option(
    "--once",
    is_flag=True,
    help="Work every job due now, then exit (for cron or a one-off catch-up); exit status 1 if a turn failed.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Jobs worked at once (threads). Default: BILLER_WORKER_CONCURRENCY.",
)
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Exit when this process is gone (serve).")
@with_appcontext
def worker_command(once: bool, concurrency: int | None, parent_pid: int | None) -> None:
    """Confirm payments and post offline payments; stop gracefully on SIGTERM or Ctrl-C."""
    settings = get_settings()
    database = get_db()
    worker = Worker(
        sessions=database.new_session,
        clients=lambda: PartnerClients(settings),
        concurrency=concurrency or settings.worker_concurrency,
        poll_interval_seconds=settings.worker_poll_interval_seconds,
        lease=dt.timedelta(seconds=settings.worker_lease_seconds),
        parent_pid=parent_pid,
    )
    with worker.stop_on_signals():
        processed = worker.run(once=once)
    if once:
        click.echo(f"{processed} job(s) worked")
        if worker.failed_turns:
            # Cron must tell an outage from "nothing was due": the errors are in the log.
            click.echo(f"{worker.failed_turns} turn(s) failed (see the log); exiting with status 1", err=True)
            click.get_current_context().exit(1)
