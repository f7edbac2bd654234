"""``biller-server bills``: load the instalments borrowers owe, list them, cancel one."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from flask.cli import with_appcontext

from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.domain.billing.bills import BillError, cancel_bill, list_bills
from biller_server.domain.india import india_today
from biller_server.domain.upload import (
    Conflict,
    RejectedRow,
    UploadFileError,
    UploadReport,
    open_bill_csv,
    template_csv,
    upload_bills,
)
from biller_server.domain.upload.log import record_finished_upload
from biller_server.extensions import get_db
from biller_server.persistence.models import BillStatus
from biller_server.persistence.types import utcnow


@click.group("bills")
def bills_group() -> None:
    """Load, list and cancel the bills offered to BBPS."""


@bills_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report what would change; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Write the good rows even if some rows are bad (they are reported).")
@with_appcontext
def upload_command(file: Path, dry_run: bool, skip_invalid: bool) -> None:
    """Load customers and bills from a CSV file (see `bills template`); uploading it again changes nothing."""
    try:
        # The header is checked before the transaction starts; every write then happens in that one transaction.
        with (
            _progress(file) as on_progress,
            open_bill_csv(file, today=india_today(), on_progress=on_progress) as rows,
            get_db().transaction() as session,
        ):
            started_at = utcnow()
            report = upload_bills(
                session=session,
                rows=rows,
                now=started_at,
                dry_run=dry_run,
                skip_invalid=skip_invalid,
                on_problem=_print_problem,
            )
            record_finished_upload(
                session=session, report=report, file_name=file.name, started_at=started_at, finished_at=utcnow()
            )
    except UploadFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_summary(report))
    if report.stopped:
        sys.exit(1)


@contextlib.contextmanager
def _progress(file: Path) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over the file's bytes, on a terminal only: logs and pipes get just the summary."""
    if not _stdout_is_terminal():
        yield None
        return
    with click.progressbar(length=file.stat().st_size, label="Checking and loading") as bar:
        yield lambda position: bar.update(position - bar.pos)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _print_problem(problem: RejectedRow | Conflict) -> None:
    label = "rejected" if isinstance(problem, RejectedRow) else "conflict"
    click.echo(f"{label}: {problem}", err=True)


def _summary(report: UploadReport) -> str:
    if report.stopped:
        prefix = "Dry run: the upload would write nothing" if report.dry_run else "Nothing written"
        return (
            f"{prefix}: {report.rejected} of {report.rows} rows rejected. "
            "Fix them, or use --skip-invalid to write the other rows."
        )
    counts = (
        f"Bills: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.conflicts} conflicts, {report.rejected} rejected (of {report.rows} rows). "
        f"Customers: {report.customers_created} created, {report.customers_updated} updated."
    )
    if report.dry_run:
        return f"Dry run, nothing written; the upload would give: {counts}"
    return counts


@bills_group.command("template")
def template_command() -> None:
    """Print a CSV header and two example rows: a starting point for an upload file."""
    click.echo(template_csv(today=india_today()), nl=False)


@bills_group.command("list")
@click.option("--customer", "customer_id", metavar="ID", help="Only this customer's bills (the lender's customer id).")
@click.option(
    "--status",
    type=click.Choice([status.value for status in BillStatus], case_sensitive=False),
    help="Only bills in this status.",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="At most this many bills.")
@format_option
@with_appcontext
def list_command(customer_id: str | None, status: str | None, limit: int, output_format: str) -> None:
    """Show bills by due date."""
    with get_db().transaction() as session:
        bills = list_bills(
            session=session,
            customer_id=customer_id,
            status=BillStatus(status.upper()) if status else None,
            limit=limit,
        )
        rows = [
            (
                bill.partner_bill_id,
                bill.customer.lender_customer_id,
                bill.name,
                bill.amount_paise,
                bill.balance_paise,
                bill.due_date,
                bill.exactness.value,
                bill.status.value,
            )
            for bill in bills
        ]
    echo_sections([Section("bills", BILL_COLUMNS, rows, empty="No bills.")], output_format)


BILL_COLUMNS = (
    Column("partner_bill_id"),
    Column("customer"),
    Column("name"),
    Column("amount", kind=Kind.AMOUNT),
    Column("balance", kind=Kind.AMOUNT),
    Column("due", kind=Kind.DATE),
    Column("exactness"),
    Column("status"),
)


@bills_group.command("cancel")
@click.argument("partner_bill_id")
@with_appcontext
def cancel_command(partner_bill_id: str) -> None:
    """Cancel a bill so that BBPS is no longer offered it (refused if it has a payment)."""
    try:
        with get_db().transaction() as session:
            bill = cancel_bill(session=session, partner_bill_id=partner_bill_id)
    except BillError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Bill {bill.partner_bill_id} is cancelled.")
