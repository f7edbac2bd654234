"""``biller-server status``: the state of the whole installation on one screen, read from the database.

The database and its schema, every worker's heartbeat, the queue's depth and lag, what needs a person (unresolved
and flagged payments, held notifications), when each enabled channel's partner last called us, and what each
partner last answered us. Everything comes from the books, so it is the same from any host, and it needs no
partner secret.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from biller_server import __version__
from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.cli.problems import database_name, database_unavailable
from biller_server.domain.health import CALLED_PARTNERS, channel_silence, worker_health
from biller_server.extensions import get_db, get_settings
from biller_server.http.landing import BUILD_KEY
from biller_server.jobs.queue import due_jobs
from biller_server.persistence.database import sqlite_file
from biller_server.persistence.migrate import schema_state
from biller_server.persistence.models import OutboundCall, Payment, PaymentNotification, PaymentStatus
from biller_server.persistence.types import utcnow

SUMMARY = (
    Column("version"),
    Column("now", kind=Kind.TIME),
    Column("database"),
    Column("database_status", "database is"),
    Column("schema"),
    Column("schema_status", "schema is"),
    Column("channels"),
)
WORKERS = (
    Column("name"),
    Column("pid", kind=Kind.NUMBER),
    Column("started_at", "started", Kind.TIME),
    Column("last_poll_at", "last poll", Kind.TIME),
    Column("seconds_since_poll", "seconds ago", Kind.NUMBER),
    Column("state"),
)
QUEUE = (
    Column("kind"),
    Column("due", kind=Kind.NUMBER),
    Column("oldest_due_seconds", "oldest waited (s)", Kind.NUMBER),
)
BOOKS = (
    Column("unresolved_payments", kind=Kind.NUMBER),
    Column("unresolved_amount", kind=Kind.AMOUNT),
    Column("flagged_payments", kind=Kind.NUMBER),
    Column("held_notifications", "notifications held", Kind.NUMBER),
)
CHANNELS = (
    Column("channel"),
    Column("last_call_at", "last call", Kind.TIME),
    Column("seconds_since_call", "seconds ago", Kind.NUMBER),
)
PARTNERS = (
    Column("partner"),
    Column("last_call_at", "last call", Kind.TIME),
    Column("operation"),
    Column("answer"),
)


@click.command("status")
@format_option
@with_appcontext
def status_command(output_format: str) -> None:
    """One screen: database and schema, workers' heartbeats, queue depth and lag, what needs a person, each
    channel's last inbound call and each partner's last answer. Exit status 1 if the database is not usable."""
    settings = get_settings()
    database = get_db()
    assert database.engine is not None
    now = utcnow()
    build = current_app.extensions[BUILD_KEY]
    summary: list[Any] = [
        f"{__version__} (commit {build.commit})",
        now,
        database_name(database.engine.url),
        "reachable",
        None,
        None,
        ",".join(settings.channels_enabled),
    ]
    path = sqlite_file(database.engine.url)
    if path is not None and not path.exists():
        summary[3:6] = ["missing: run `biller-server db upgrade`", "none", "missing"]
        echo_sections([Section("status", SUMMARY, [summary], record=True)], output_format)
        raise SystemExit(1)
    with database.new_session() as session:
        try:
            state = schema_state(session.connection())
        except sa.exc.DBAPIError as exc:
            summary[3] = str(database_unavailable(database.engine.url, exc).message)
            echo_sections([Section("status", SUMMARY, [summary], record=True)], output_format)
            raise SystemExit(1) from None
        summary[4:6] = [f"{state.revision} (this release: {state.head})", state.status]
        if state.status in ("missing", "behind"):
            summary[3] = "reachable: run `biller-server db upgrade`"
            echo_sections([Section("status", SUMMARY, [summary], record=True)], output_format)
            raise SystemExit(1)
        sections = [
            Section("status", SUMMARY, [summary], record=True),
            Section("workers", WORKERS, _workers(session, now, settings.worker_stale_seconds), empty="No worker."),
            Section("queue", QUEUE, _queue(session, now), title="queue (pending jobs due now)"),
            Section("books", BOOKS, [_books(session)], record=True, title="what needs a person"),
            Section("channels", CHANNELS, _channels(session, now, list(settings.enabled_channels()))),
            Section("partners", PARTNERS, _partners(session), empty="No call made yet.", title="partners we call"),
        ]
    echo_sections(sections, output_format)


def _workers(session: Session, now: dt.datetime, stale_after: float) -> list[tuple[Any, ...]]:
    return [
        (
            worker.beat.name,
            worker.beat.pid,
            worker.beat.started_at,
            worker.beat.last_poll_at,
            worker.seconds_since_poll,
            f"stale (over {stale_after:g} s)" if worker.stale else "ok",
        )
        for worker in worker_health(session=session, now=now, stale_after_seconds=stale_after)
    ]


def _queue(session: Session, now: dt.datetime) -> list[tuple[Any, ...]]:
    return [(kind.value, count, round(age, 1)) for kind, (count, age) in due_jobs(session=session, now=now).items()]


def _books(session: Session) -> tuple[Any, ...]:
    unresolved, amount = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Payment.amount_paise), 0)).where(
            Payment.status == PaymentStatus.UNRESOLVED
        )
    ).one()
    flagged = session.scalar(sa.select(sa.func.count()).select_from(Payment).where(Payment.flagged.is_(True)))
    held = session.scalar(
        sa.select(sa.func.count())
        .select_from(PaymentNotification)
        .where(PaymentNotification.needs_reconciliation.is_(True))
    )
    return (int(unresolved), int(amount), int(flagged or 0), int(held or 0))


def _channels(session: Session, now: dt.datetime, channels: list[str]) -> list[tuple[Any, ...]]:
    found = channel_silence(session=session, now=now, channels=channels)
    return [(silence.channel, silence.last_call_at, silence.seconds_since_call) for silence in found]


def _partners(session: Session) -> list[tuple[Any, ...]]:
    rows = []
    for partner in CALLED_PARTNERS:
        # One backward step on the (partner, created_at) index per partner.
        call = session.scalars(
            sa.select(OutboundCall)
            .where(OutboundCall.partner == partner)
            .order_by(OutboundCall.created_at.desc(), OutboundCall.id.desc())
            .limit(1)
        ).first()
        if call is not None:
            answer = call.error or f"HTTP {call.response_status}"
            rows.append((partner, call.created_at, call.operation, answer))
    return rows
