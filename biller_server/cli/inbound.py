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
from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.domain.india import IST
from biller_server.domain.reports.daily import india_day_bounds
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
@format_option
@with_appcontext
def list_command(
    ref: str | None, channel: str | None, since: dt.datetime | None, limit: int, output_format: str
) -> None:
    """List partner calls, newest first; with --ref, only those carrying the reference, and its payments."""
    if since is not None:
        starts_at, _ = india_day_bounds(since.date())
    else:
        starts_at, _ = india_day_bounds(utcnow().astimezone(IST).date() - dt.timedelta(days=DEFAULT_DAYS - 1))
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

    rows = [
        (
            message.id,
            message.received_at,
            message.channel,
            message.method,
            message.path,
            message.status_code,
            message.outcome,
            message.partner_ref,
            message.request_id,
        )
        for message in found
    ]
    empty = f"No inbound messages since {starts_at.astimezone(IST):%Y-%m-%d %H:%M} IST."
    sections = [Section("messages", MESSAGE_COLUMNS, rows, empty=empty)]
    if ref:
        sections.append(_payments_with_reference(ref))
    echo_sections(sections, output_format)


MESSAGE_COLUMNS = (
    Column("id", kind=Kind.NUMBER),
    Column("received_at", kind=Kind.TIME),
    Column("channel"),
    Column("method"),
    Column("path"),
    Column("status", kind=Kind.NUMBER),
    Column("outcome"),
    Column("reference"),
    Column("request_id"),
)
MESSAGE_DETAIL = (
    Column("id", kind=Kind.NUMBER),
    Column("received_at", kind=Kind.TIME),
    Column("channel"),
    Column("method"),
    Column("path"),
    Column("source_address", "from"),
    Column("request_id"),
    Column("status", kind=Kind.NUMBER),
    Column("outcome"),
    Column("reference"),
    Column("error"),
    Column("duration_ms", kind=Kind.NUMBER),
    Column("body", kind=Kind.DATA),
)
HEADER_COLUMNS = (Column("name"), Column("value"))
REFERENCE_PAYMENT_COLUMNS = (
    Column("id", kind=Kind.NUMBER),
    Column("channel"),
    Column("transaction"),
    Column("status"),
    Column("amount", kind=Kind.AMOUNT),
    Column("bill"),
    Column("flagged", kind=Kind.FLAG),
)


@inbound_group.command("show")
@click.argument("message_id", type=int)
@format_option
@with_appcontext
def show_command(message_id: int, output_format: str) -> None:
    """Show one partner call whole: headers (secrets redacted), body, our answer's status and outcome."""
    with get_db().new_session() as session:
        message = session.get(InboundMessage, message_id)
        if message is None:
            raise click.ClickException(f"no inbound message {message_id}")
        detail = (
            message.id,
            message.received_at,
            message.channel,
            message.method,
            message.path,
            message.source_address,
            message.request_id,
            message.status_code,
            message.outcome,
            message.partner_ref,
            message.error,
            message.duration_ms,
            _body(message.body),
        )
        headers = list((message.headers or {}).items())
    echo_sections(
        [
            Section("message", MESSAGE_DETAIL, [detail], record=True),
            Section("headers", HEADER_COLUMNS, headers, title="headers (secrets redacted)"),
        ],
        output_format,
    )


def _payments_with_reference(ref: str) -> Section:
    with get_db().new_session() as session:
        payments = session.scalars(
            sa.select(Payment)
            .where(sa.or_(Payment.partner_txn_ref == ref, Payment.customer_txn_ref == ref))
            .order_by(Payment.id)
        )
        rows = [
            (
                payment.id,
                payment.channel.value,
                payment.partner_txn_ref,
                payment.status.value,
                payment.amount_paise,
                payment.bill.partner_bill_id,
                payment.flagged,
            )
            for payment in payments
        ]
    return Section(
        "payments",
        REFERENCE_PAYMENT_COLUMNS,
        rows,
        empty=f"No payment has the reference {ref!r}.",
        title=f"payments with the reference {ref!r} (see `biller-server payments show ID`)",
    )


def _body(body: bytes | None) -> object:
    """The body as JSON when it is JSON (shown indented), else as text; bytes that are not UTF-8 as a note."""
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"({len(body)} bytes, not UTF-8) {body[:200]!r}"
    try:
        return json.loads(text)
    except ValueError:
        return text
