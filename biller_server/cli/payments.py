"""``biller-server payments``: look at payments and their confirmation history; record offline payments."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import io

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.domain.errors import DomainError
from biller_server.domain.money import AmountError, paise_from_rupees_text, rupees_text
from biller_server.domain.payments.decisions import (
    Decision,
    decision_line,
    recheck_payment,
    resolve_payment,
    wait_for_recheck_answer,
)
from biller_server.domain.payments.export import COLUMNS, export_rows
from biller_server.domain.payments.inflight import may_have_landed_text, posts_that_may_have_landed
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
@format_option
@with_appcontext
def list_command(status: str | None, channel: str | None, limit: int, output_format: str) -> None:
    """List the latest payments, newest first."""
    query = sa.select(Payment).order_by(Payment.id.desc()).limit(limit)
    if status:
        query = query.where(Payment.status == PaymentStatus(status.upper()))
    if channel:
        query = query.where(Payment.channel == Channel(channel.lower()))
    with get_db().new_session() as session:
        rows = [_payment_row(payment) for payment in session.scalars(query)]
    echo_sections([Section("payments", PAYMENT_COLUMNS, rows, empty="No payments.")], output_format)


@payments_group.command("unresolved")
@format_option
@with_appcontext
def unresolved_command(output_format: str) -> None:
    """List payments whose outcome a person must establish (confirmation gave up or was stopped), with why."""
    query = sa.select(Payment).where(Payment.status == PaymentStatus.UNRESOLVED).order_by(Payment.id)
    with get_db().new_session() as session:
        payments = list(session.scalars(query))
        landed = posts_that_may_have_landed(session=session, payment_ids=[payment.id for payment in payments])
        rows = [
            (*_payment_row(payment), payment.status_reason, may_have_landed_text(landed.get(payment.id)))
            for payment in payments
        ]
    columns = (*PAYMENT_COLUMNS, Column("reason"), Column("warning"))
    echo_sections([Section("payments", columns, rows, empty="No unresolved payments.")], output_format)


PAYMENT_COLUMNS = (
    Column("id", kind=Kind.NUMBER),
    Column("status"),
    Column("channel"),
    Column("amount", kind=Kind.AMOUNT),
    Column("bill"),
    Column("transaction"),
    Column("paid_at", kind=Kind.TIME),
    Column("flagged", kind=Kind.FLAG),
)


def _payment_row(payment: Payment) -> tuple[object, ...]:
    return (
        payment.id,
        payment.status.value,
        payment.channel.value,
        payment.amount_paise,
        payment.bill.partner_bill_id,
        payment.partner_txn_ref,
        payment.paid_at,
        payment.flagged,
    )


PAYMENT_DETAIL = (
    Column("id", kind=Kind.NUMBER),
    Column("status"),
    Column("reason"),
    Column("reason_codes", kind=Kind.DATA),
    Column("flagged", kind=Kind.FLAG),
    Column("flag_reason"),
    Column("channel"),
    Column("transaction"),
    Column("customer_txn_ref"),
    Column("partner_bill_ref"),
    Column("amount", kind=Kind.AMOUNT),
    Column("paid_at", kind=Kind.TIME),
    Column("applied_to_bill", kind=Kind.FLAG),
    Column("bill"),
    Column("bill_status"),
    Column("bill_paid", kind=Kind.AMOUNT),
    Column("bill_amount", kind=Kind.AMOUNT),
    Column("receipt"),
    Column("warning"),
    Column("settlement"),
    Column("settlement_ref", "settlement UTR"),
    Column("settled_on", kind=Kind.DATE),
)
JOB_COLUMNS = (
    Column("id", kind=Kind.NUMBER),
    Column("kind"),
    Column("partner"),
    Column("state"),
    Column("attempts", kind=Kind.NUMBER),
    Column("outcome"),
    Column("due_at", "due", Kind.TIME),
    Column("held_by"),
    Column("last_error"),
)
CALL_COLUMNS = (
    Column("at", kind=Kind.TIME),
    Column("job", kind=Kind.NUMBER),
    Column("operation"),
    Column("method"),
    Column("url"),
    Column("answer"),
)
EVENT_COLUMNS = (
    Column("at", kind=Kind.TIME),
    Column("kind"),
    Column("from_status", "from"),
    Column("to_status", "to"),
    Column("source"),
    Column("detail", kind=Kind.DATA),
)


@payments_group.command("show")
@click.argument("payment_id", type=int)
@format_option
@with_appcontext
def show_command(payment_id: int, output_format: str) -> None:
    """Show one payment with its confirmation history: jobs, calls to partners, events."""
    with get_db().new_session() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise click.ClickException(f"no payment {payment_id}")
        bill = payment.bill
        detail = (
            payment.id,
            payment.status.value,
            payment.status_reason,
            payment.reason_codes or None,
            payment.flagged,
            payment.flag_reason,
            payment.channel.value,
            payment.partner_txn_ref,
            payment.customer_txn_ref,
            payment.partner_bill_ref,
            payment.amount_paise,
            payment.paid_at,
            payment.applied_to_bill,
            bill.partner_bill_id,
            bill.status.value,
            bill.paid_paise,
            bill.amount_paise,
            payment.receipt.receipt_number if payment.receipt else None,
            may_have_landed_text(posts_that_may_have_landed(session=session, payment_ids=[payment.id]).get(payment.id))
            if payment.status in (PaymentStatus.RECEIVED, PaymentStatus.UNRESOLVED)
            else None,
            payment.settlement_state.value if payment.settlement_state else None,
            payment.settlement_ref,
            payment.settled_on,
        )
        jobs = list(session.scalars(sa.select(Job).where(Job.payment_id == payment.id).order_by(Job.id)))
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
        events = list(
            session.scalars(
                sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id).order_by(PaymentEvent.id)
            )
        )
        sections = [
            Section("payment", PAYMENT_DETAIL, [detail], record=True, title=f"payment {payment.id}"),
            Section(
                "jobs",
                JOB_COLUMNS,
                [
                    (
                        job.id,
                        job.kind.value,
                        job.partner,
                        job.state.value,
                        job.attempts,
                        job.outcome,
                        job.due_at,
                        job.lease_owner,
                        job.last_error,
                    )
                    for job in jobs
                ],
            ),
            Section(
                "calls",
                CALL_COLUMNS,
                [
                    (
                        call.created_at,
                        call.job_id,
                        call.operation,
                        call.method,
                        call.url,
                        _answer_of(call),
                    )
                    for call in calls
                ],
                title=f"outbound calls ({len(calls)})",
            ),
            Section(
                "events",
                EVENT_COLUMNS,
                [
                    (
                        event.occurred_at,
                        event.kind,
                        event.from_status,
                        event.to_status,
                        event.source,
                        event.detail or None,
                    )
                    for event in events
                ],
            ),
        ]
    echo_sections(sections, output_format)


def _answer_of(call: OutboundCall) -> str:
    if call.error:
        return call.error
    if call.response_status is not None:
        return f"HTTP {call.response_status}"
    return "sent; no answer recorded (the partner may have it)"


def operator_name() -> str:
    """Who is deciding, by default: the OS user running the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@payments_group.command("resolve")
@click.argument("payment_id", type=int)
@click.option("--confirmed", "decision", flag_value=Decision.CONFIRMED.value, help="The money moved.")
@click.option("--failed", "decision", flag_value=Decision.FAILED.value, help="The money did not move.")
@click.option("--note", required=True, help="Why: what you saw, whom you asked.")
@click.option("--evidence", default=None, help="A reference to the proof (a partner's ticket, a bank UTR, a mail).")
@click.option("--by", default=None, help="Who decides (default: the OS user).")
@click.option("--override", is_flag=True, help="Put the decision over a final outcome (and clear a flag).")
@with_appcontext
def resolve_command(
    payment_id: int, decision: str | None, note: str, evidence: str | None, by: str | None, override: bool
) -> None:
    """Record a person's verdict on a payment (UNRESOLVED, or flagged with --override) and end its confirmation."""
    if decision is None:
        raise click.UsageError("say --confirmed or --failed")
    try:
        with get_db().transaction() as session:
            result = resolve_payment(
                session=session,
                payment_id=payment_id,
                decision=decision,
                note=note,
                evidence=evidence,
                by=by or operator_name(),
                override=override,
                now=utcnow(),
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(decision_line(result.message, result.changed))


@payments_group.command("recheck")
@click.argument("payment_id", type=int)
@click.option(
    "--wait",
    type=click.FloatRange(0, 600),
    default=None,
    help="Seconds to wait for the answer (default: the partners' read timeout).",
)
@click.option("--by", default=None, help="Who asks (default: the OS user).")
@with_appcontext
def recheck_command(payment_id: int, wait: float | None, by: str | None) -> None:
    """Ask the partner about a payment now (a worker makes the call) and print the answer if it comes in time."""
    try:
        with get_db().transaction() as session:
            result = recheck_payment(session=session, payment_id=payment_id, by=by or operator_name(), now=utcnow())
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(result.message)
    answer = wait_for_recheck_answer(
        open_session=get_db().new_session,
        payment_id=payment_id,
        asked=result,
        timeout_seconds=get_settings().partner_read_timeout_seconds if wait is None else wait,
    )
    if answer is not None:
        click.echo(answer)
    else:
        click.echo(f"no answer yet (is a worker running?); see `biller-server payments show {payment_id}` later")


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
                max_due_multiple=settings.max_payment_multiple,
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
