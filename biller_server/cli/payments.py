"""``biller-server payments``: look at payments and their confirmation history; record offline payments."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import click
import sqlalchemy as sa
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from biller_server.domain.errors import DomainError
from biller_server.domain.money import AmountError, paise_from_rupees_text, rupees_text
from biller_server.domain.payments.export import COLUMNS, export_rows
from biller_server.domain.payments.offline import record_offline_payment
from biller_server.domain.reports.daily import india_day_bounds
from biller_server.extensions import get_db, get_settings
from biller_server.persistence.models import (
    Channel,
    Job,
    OutboundCall,
    Payment,
    PaymentEvent,
    PaymentStatus,
)
from biller_server.persistence.types import utcnow


@click.group("payments")
def payments_group() -> None:
    """Look at payments and their confirmations; record payments made outside BBPS."""


@payments_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in PaymentStatus], case_sensitive=False))
@click.option("--channel", type=click.Choice([c.value for c in Channel], case_sensitive=False))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@with_appcontext
def list_command(status: str | None, channel: str | None, limit: int) -> None:
    """List the latest payments, newest first."""
    query = sa.select(Payment).order_by(Payment.id.desc()).limit(limit)
    if status:
        query = query.where(Payment.status == PaymentStatus(status.upper()))
    if channel:
        query = query.where(Payment.channel == Channel(channel.lower()))
    with get_db().new_session() as session:
        _echo_payments(session, list(session.scalars(query)))


@payments_group.command("unresolved")
@with_appcontext
def unresolved_command() -> None:
    """List payments whose outcome a person must establish (confirmation gave up or was stopped)."""
    query = sa.select(Payment).where(Payment.status == PaymentStatus.UNRESOLVED).order_by(Payment.id)
    with get_db().new_session() as session:
        payments = list(session.scalars(query))
        _echo_payments(session, payments)
        for payment in payments:
            click.echo(f"  {payment.id}: {payment.status_reason or ''}")


@payments_group.command("show")
@click.argument("payment_id", type=int)
@with_appcontext
def show_command(payment_id: int) -> None:
    """Show one payment with its confirmation history: jobs, calls to partners, events."""
    with get_db().new_session() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise click.ClickException(f"no payment {payment_id}")
        bill = payment.bill
        click.echo(f"payment {payment.id}")
        for label, value in [
            ("status", payment.status.value),
            ("reason", payment.status_reason),
            ("reason codes", json.dumps(payment.reason_codes) if payment.reason_codes else None),
            ("flagged", payment.flag_reason if payment.flagged else None),
            ("channel", payment.channel.value),
            ("transaction", payment.partner_txn_ref),
            ("customer txn ref", payment.customer_txn_ref),
            ("partner bill ref", payment.partner_bill_ref),
            ("amount", rupees_text(payment.amount_paise)),
            ("paid at", payment.paid_at.isoformat()),
            ("applied to bill", "yes" if payment.applied_to_bill else "no (reversed)"),
            (
                "bill",
                f"{bill.partner_bill_id} {bill.status.value} paid {rupees_text(bill.paid_paise)} "
                f"of {rupees_text(bill.amount_paise)}",
            ),
            ("receipt", payment.receipt.receipt_number if payment.receipt else None),
        ]:
            if value is not None:
                click.echo(f"  {label + ':':<18}{value}")
        jobs = list(session.scalars(sa.select(Job).where(Job.payment_id == payment.id).order_by(Job.id)))
        click.echo("jobs")
        for job in jobs:
            click.echo(
                f"  #{job.id} {job.kind.value} with {job.partner}: {job.state.value}, {job.attempts} attempt(s), "
                f"outcome {job.outcome or '-'}, due {job.due_at.isoformat()}"
                + (f", held by {job.lease_owner}" if job.lease_owner else "")
            )
            if job.last_error:
                click.echo(f"    last error: {job.last_error}")
        job_ids = [job.id for job in jobs]
        calls = (
            list(
                session.scalars(
                    sa.select(OutboundCall).where(OutboundCall.job_id.in_(job_ids)).order_by(OutboundCall.id)
                )
            )
            if job_ids
            else []
        )
        click.echo(f"outbound calls ({len(calls)})")
        for call in calls:
            answer = call.error or f"HTTP {call.response_status}"
            click.echo(f"  {call.created_at.isoformat()} {call.operation} {call.method} {call.url} -> {answer}")
        events = list(
            session.scalars(
                sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id).order_by(PaymentEvent.id)
            )
        )
        click.echo("events")
        for event in events:
            change = f"{event.from_status or '-'} -> {event.to_status or '-'}"
            detail = f" {json.dumps(event.detail)}" if event.detail else ""
            click.echo(f"  {event.occurred_at.isoformat()} {event.kind} {change} from {event.source}{detail}")


@payments_group.command("record-offline")
@click.option("--bill", "partner_bill_id", required=True, help="The bill's partnerBillId.")
@click.option("--amount", required=True, help="Rupees paid, e.g. 1250 or 1250.50.")
@click.option("--transaction-id", required=True, help="The payment's reference (sent to Kaleidofin as transactionId).")
@click.option("--date", "paid_on", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Date paid, YYYY-MM-DD.")
@click.option("--system-bill-id", default=None, help="Kaleidofin's systemBillId, if known (else it is looked up).")
@with_appcontext
def record_offline_command(
    partner_bill_id: str, amount: str, transaction_id: str, paid_on: dt.datetime, system_bill_id: str | None
) -> None:
    """Record a payment made outside BBPS and queue its one posting to Kaleidofin's Payment API."""
    settings = get_settings()
    try:
        amount_paise = paise_from_rupees_text(amount)
    except AmountError as exc:
        raise click.BadParameter(str(exc), param_hint="--amount") from None
    if not settings.kaleidofin_payment_url or not settings.kaleidofin_status_url:
        raise click.ClickException(
            "BILLER_KALEIDOFIN_PAYMENT_URL and BILLER_KALEIDOFIN_STATUS_URL must be set to post offline payments"
        )
    can_look_up = bool(settings.kaleidofin_fetch_bills_url and settings.kaleidofin_biller_id)
    try:
        with get_db().transaction() as session:
            recorded = record_offline_payment(
                session=session,
                partner_bill_id=partner_bill_id,
                amount_paise=amount_paise,
                transaction_id=transaction_id,
                paid_on=paid_on.date(),
                system_bill_id=system_bill_id,
                now=utcnow(),
            )
            if recorded.job is not None and recorded.payment.partner_bill_ref is None and not can_look_up:
                # Raised inside the transaction: nothing is recorded.
                raise click.ClickException(
                    "Kaleidofin's systemBillId for this bill is not known: pass --system-bill-id, or set "
                    "BILLER_KALEIDOFIN_FETCH_BILLS_URL and BILLER_KALEIDOFIN_BILLER_ID so it can be looked up"
                )
            payment, receipt = recorded.payment, recorded.receipt
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    if recorded.replayed:
        click.echo(f"already recorded: payment {payment.id}, receipt {receipt.receipt_number} (nothing changed)")
        return
    click.echo(
        f"recorded payment {payment.id} of {rupees_text(payment.amount_paise)} against bill {partner_bill_id}, "
        f"receipt {receipt.receipt_number}; posting to Kaleidofin queued"
    )


@payments_group.command("export")
@click.option("--from", "first_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--to", "last_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day (included).")
@click.option("--format", "output_format", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", help="File to write (default: stdout).")
@with_appcontext
def export_command(first_day: dt.datetime, last_day: dt.datetime, output_format: str, output: io.TextIOBase) -> None:
    """One CSV row per payment made in the days given (India time), for the lender's loan management system.

    Rows are in payment-time order and are written as they are read (a page at a time): any range fits in memory.
    """
    if last_day < first_day:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    starts_at, _ = india_day_bounds(first_day.date())
    _, ends_at = india_day_bounds(last_day.date())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> None:
        output.write(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()

    writer.writerow(COLUMNS)
    rows = export_rows(sessions=get_db().new_session, starts_at=starts_at, ends_at=ends_at)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % 500 == 0:
            flush()
    flush()
    output.flush()


def _echo_payments(session: Session, payments: list[Payment]) -> None:
    if not payments:
        click.echo("no payments")
        return
    click.echo(f"{'id':>6}  {'status':<11} {'channel':<10} {'amount':>12}  {'bill':<16} {'transaction':<24} paid at")
    for payment in payments:
        flag = " FLAGGED" if payment.flagged else ""
        click.echo(
            f"{payment.id:>6}  {payment.status.value:<11} {payment.channel.value:<10} "
            f"{rupees_text(payment.amount_paise):>12}  {payment.bill.partner_bill_id:<16} "
            f"{payment.partner_txn_ref:<24} {payment.paid_at.isoformat()}{flag}"
        )
