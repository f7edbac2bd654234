"""``biller-server inbound``: search the log of every call the partners made to us (inbound_messages).

The question it answers: did this partner call reach us, and what did we answer? A reference (a transaction id,
a refId, a customer id, a loan account number) is looked for in each message's recorded reference and in its
body, so even a call we refused (and so never linked to a payment) is found.
"""

from __future__ import annotations

import datetime as dt
import json

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from biller_server.channels import CHANNELS
from biller_server.domain.money import rupees_text
from biller_server.domain.reports.daily import INDIA, india_day_bounds
from biller_server.extensions import get_db
from biller_server.persistence.models import InboundMessage, Payment
from biller_server.persistence.types import utcnow

PAGE = 500
DEFAULT_DAYS = 7


@click.group("inbound")
def inbound_group() -> None:
    """Search the log of partner calls: what reached us, and what we answered."""


@inbound_group.command("list")
@click.option("--ref", help="A reference: the message's recorded reference, or any text in its body.")
@click.option("--channel", help=f"Only this channel ({', '.join(CHANNELS)}).")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help=f"From this day (India time), YYYY-MM-DD. Default: the last {DEFAULT_DAYS} days.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@with_appcontext
def list_command(ref: str | None, channel: str | None, since: dt.datetime | None, limit: int) -> None:
    """List partner calls, newest first; with --ref, only those carrying the reference, and its payments."""
    if since is not None:
        starts_at, _ = india_day_bounds(since.date())
    else:
        starts_at, _ = india_day_bounds(utcnow().astimezone(INDIA).date() - dt.timedelta(days=DEFAULT_DAYS - 1))
    query = sa.select(InboundMessage).where(InboundMessage.received_at >= starts_at)
    if channel:
        query = query.where(InboundMessage.channel == channel.lower())
    needle = ref.encode("utf-8") if ref else None
    found: list[InboundMessage] = []
    before_id: int | None = None
    database = get_db()
    # Newest first, a page at a time, so a wide window never loads every body at once.
    while len(found) < limit:
        page = query.order_by(InboundMessage.id.desc()).limit(PAGE)
        if before_id is not None:
            page = page.where(InboundMessage.id < before_id)
        with database.new_session() as session:
            messages = list(session.scalars(page))
        for message in messages:
            if needle is None or message.partner_ref == ref or needle in (message.body or b""):
                found.append(message)
                if len(found) == limit:
                    break
        if len(messages) < PAGE:
            break
        before_id = messages[-1].id

    if not found:
        click.echo(f"no inbound messages since {starts_at.astimezone(INDIA):%Y-%m-%d %H:%M} IST")
    else:
        click.echo(
            f"{'id':>7}  {'received at (IST)':<19}  {'channel':<10} {'method':<6} {'path':<32} "
            f"{'status':>6}  {'outcome':<24} {'reference':<20} request id"
        )
    for message in found:
        click.echo(
            f"{message.id:>7}  {message.received_at.astimezone(INDIA):%Y-%m-%d %H:%M:%S}  {message.channel:<10} "
            f"{message.method:<6} {message.path:<32} {message.status_code:>6}  {message.outcome:<24} "
            f"{message.partner_ref or '-':<20} {message.request_id}"
        )
    if ref:
        _echo_payments_with_reference(ref)


@inbound_group.command("show")
@click.argument("message_id", type=int)
@with_appcontext
def show_command(message_id: int) -> None:
    """Show one partner call whole: headers (secrets redacted), body, our answer's status and outcome."""
    with get_db().new_session() as session:
        message = session.get(InboundMessage, message_id)
        if message is None:
            raise click.ClickException(f"no inbound message {message_id}")
        for label, value in [
            (
                "received at",
                f"{message.received_at.isoformat()} ({message.received_at.astimezone(INDIA):%H:%M:%S} IST)",
            ),
            ("channel", message.channel),
            ("request", f"{message.method} {message.path}"),
            ("from", message.source_address),
            ("request id", message.request_id),
            ("status", str(message.status_code)),
            ("outcome", message.outcome),
            ("reference", message.partner_ref),
            ("error", message.error),
            ("duration", f"{message.duration_ms} ms" if message.duration_ms is not None else None),
        ]:
            if value is not None:
                click.echo(f"{label + ':':<14}{value}")
        click.echo("headers:")
        for key, value in (message.headers or {}).items():
            click.echo(f"  {key}: {value}")
        click.echo("body:")
        click.echo(_body_text(message.body))


def _echo_payments_with_reference(ref: str) -> None:
    with get_db().new_session() as session:
        payments = list(
            session.scalars(
                sa.select(Payment)
                .where(sa.or_(Payment.partner_txn_ref == ref, Payment.customer_txn_ref == ref))
                .order_by(Payment.id)
            )
        )
        if not payments:
            click.echo(f"no payment has the reference {ref!r}")
            return
        for payment in payments:
            click.echo(
                f"payment {payment.id} ({payment.channel.value}, {payment.partner_txn_ref}): "
                f"{payment.status.value}, {rupees_text(payment.amount_paise)} against bill "
                f"{payment.bill.partner_bill_id}"
                + (" FLAGGED" if payment.flagged else "")
                + f" — see `biller-server payments show {payment.id}`"
            )


def _body_text(body: bytes | None) -> str:
    if not body:
        return "  (empty)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"  ({len(body)} bytes, not UTF-8) {body[:200]!r}"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
