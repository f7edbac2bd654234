"""``biller-server notifications``: partners' notifications held for a person (an unknown refId, a contradiction)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.cli.payments import operator_name
from biller_server.domain.errors import DomainError
from biller_server.domain.payments.decisions import (
    decision_line,
    dismiss_notification,
    held_because,
    held_notifications,
    match_notification,
)
from biller_server.extensions import get_db
from biller_server.persistence.types import utcnow

HELD_COLUMNS = (
    Column("id", kind=Kind.NUMBER),
    Column("received_at", "received", Kind.TIME),
    Column("channel"),
    Column("ref_id", "refId"),
    Column("status"),
    Column("reason"),
    Column("payment", kind=Kind.NUMBER),
    Column("held_because", "held because"),
)


@click.group("notifications")
def notifications_group() -> None:
    """Notifications held for a person: list them, match one to a payment, or dismiss one."""


@notifications_group.command("list")
@format_option
@with_appcontext
def list_command(output_format: str) -> None:
    """List the held notifications, oldest first."""
    with get_db().new_session() as session:
        rows = [
            (
                notification.id,
                notification.received_at,
                notification.channel.value,
                notification.ref_id,
                notification.reported_status,
                notification.reason,
                notification.payment_id,
                held_because(notification),
            )
            for notification in held_notifications(session=session)
        ]
    echo_sections([Section("notifications", HELD_COLUMNS, rows, empty="No held notifications.")], output_format)


@notifications_group.command("match")
@click.argument("notification_id", type=int)
@click.argument("payment_id", type=int)
@click.option("--note", default=None, help="Why this payment.")
@click.option("--by", default=None, help="Who decides (default: the OS user).")
@with_appcontext
def match_command(notification_id: int, payment_id: int, note: str | None, by: str | None) -> None:
    """Apply a held notification's verdict to PAYMENT (the one it is about, though its refId did not say so)."""
    try:
        with get_db().transaction() as session:
            result = match_notification(
                session=session,
                notification_id=notification_id,
                payment_id=payment_id,
                note=note,
                by=by or operator_name(),
                now=utcnow(),
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(decision_line(result.message, result.changed))


@notifications_group.command("dismiss")
@click.argument("notification_id", type=int)
@click.option("--note", required=True, help="Why it needs nothing done.")
@click.option("--by", default=None, help="Who decides (default: the OS user).")
@with_appcontext
def dismiss_command(notification_id: int, note: str, by: str | None) -> None:
    """Set a held notification aside with a reason; the books do not change."""
    try:
        with get_db().transaction() as session:
            changed, message = dismiss_notification(
                session=session, notification_id=notification_id, note=note, by=by or operator_name(), now=utcnow()
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(decision_line(message, changed))
