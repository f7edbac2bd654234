"""``biller-server bills``: load the instalments borrowers owe, list them, cancel or close them, see the uploads."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click
from flask.cli import with_appcontext

from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.domain.billing.bills import BillError, cancel_bill, close_bill, list_bills
from biller_server.domain.india import india_today
from biller_server.domain.upload import (
    BillChange,
    Conflict,
    CustomerChange,
    RejectedRow,
    UploadBusy,
    UploadFileError,
    UploadReport,
    describe_change,
    template_csv,
)
from biller_server.domain.upload.files import FileOptions, UploadHooks, file_sha256, upload_file
from biller_server.domain.upload.formats import (
    COLUMN_HELP,
    SPELLINGS,
    ColumnMapError,
    parse_column_mapping,
    read_bill_ids,
    read_column_map,
)
from biller_server.domain.upload.reader import COLUMNS, TEMPLATE_EXAMPLES, spellings_text, template_dates
from biller_server.domain.upload.runs import list_uploads, operator_name, resumable_upload
from biller_server.extensions import get_db, get_settings
from biller_server.persistence.models import BillStatus, BillUpload, BillUploadState
from biller_server.persistence.types import utcnow


@click.group("bills")
def bills_group() -> None:
    """Load, list, cancel and close the bills offered to BBPS."""


@bills_group.command("upload")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sheet", metavar="NAME", help="The workbook's sheet to read (default: the first).")
@click.option(
    "--columns",
    "columns_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of OURS=THEIRS lines naming the file's columns (see `bills template --columns`).",
)
@click.option("--column", "column_pairs", multiple=True, metavar="OURS=THEIRS", help="Name one column (repeatable).")
@click.option(
    "--date-order",
    type=click.Choice(["dmy", "mdy"]),
    default="dmy",
    show_default=True,
    help="How to read 05/12/2026: day first (India) or month first.",
)
@click.option("--dry-run", is_flag=True, help="Check the file and list what would change; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Write the good rows even if some rows are bad (they are reported).")
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write every refused row, as it came, with its line and reason, to this CSV (or .xlsx) file.",
)
@click.option("--show-changes", is_flag=True, help="After writing, list every bill and customer created or changed.")
@click.option(
    "--resume",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[ID]",
    help="Finish an interrupted upload (the latest, or upload ID) from its file, read as it was.",
)
@with_appcontext
def upload_command(
    file: Path | None,
    sheet: str | None,
    columns_file: Path | None,
    column_pairs: tuple[str, ...],
    date_order: str,
    dry_run: bool,
    skip_invalid: bool,
    rejects_path: Path | None,
    show_changes: bool,
    resume: str | None,
) -> None:
    """Load customers and bills from a CSV file or Excel workbook; uploading it again changes nothing."""
    try:
        if resume is not None:
            if file is not None or columns_file or column_pairs or sheet:
                raise click.UsageError("--resume reads the interrupted upload's own file and options; give no FILE")
            file, options = _resumed_file(resume)
            options.skip_invalid = options.skip_invalid or skip_invalid
        elif file is None:
            raise click.UsageError("give the FILE to upload (or --resume)")
        else:
            columns = read_column_map(columns_file) if columns_file else {}
            for pair in column_pairs:
                ours, theirs = parse_column_mapping(pair)
                columns[ours] = theirs
            options = FileOptions(sheet, columns, date_order, skip_invalid)
        report = _upload(file, options, dry_run=dry_run, rejects_path=rejects_path, show_changes=show_changes)
    except (UploadFileError, ColumnMapError, UploadBusy, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if report.stopped:
        sys.exit(1)


def _resumed_file(resume: str) -> tuple[Path, FileOptions]:
    if resume != "latest" and not (resume.isascii() and resume.isdigit()):
        raise click.UsageError(f"--resume takes an upload's number (see `bills uploads`), not {resume!r}")
    with get_db().transaction() as session:
        upload = resumable_upload(session=session, upload_id=None if resume == "latest" else int(resume))
        if upload is None:
            raise click.ClickException(
                "no interrupted upload to resume" if resume == "latest" else f"no upload #{resume}"
            )
        if upload.state in (BillUploadState.FINISHED, BillUploadState.REFUSED) or upload.resumed_by_id:
            done = f"was finished by #{upload.resumed_by_id}" if upload.resumed_by_id else f"is {upload.state.value}"
            raise click.ClickException(f"upload #{upload.id} {done}: there is nothing to resume")
        path, sha256, recorded = Path(upload.file_path), upload.file_sha256, dict(upload.options)
        number = upload.id
    if not path.is_file():
        raise click.ClickException(f"upload #{number} read {path}, which is no longer there: upload the file again")
    if file_sha256(path) != sha256:
        raise click.ClickException(
            f"{path} has changed since upload #{number} read it: upload it as it is now (without --resume)"
        )
    return path, FileOptions.from_record(recorded)


def _upload(
    file: Path, options: FileOptions, *, dry_run: bool, rejects_path: Path | None, show_changes: bool
) -> UploadReport:
    on_terminal = _on_terminal()
    with _Progress(on_terminal) as progress, _Problems(defer=on_terminal) as problems:
        done = upload_file(
            file,
            options,
            session=get_db().dedicated_session,
            today=india_today(),
            now=utcnow(),
            dry_run=dry_run,
            operator=operator_name(),
            rejects_path=rejects_path,
            hooks=UploadHooks(
                start_reading=progress.start_reading,
                read=progress.read,
                stage=progress.stage,
                written=progress.written,
                problem=problems.add if rejects_path is None else None,
                change=_change_printer(progress) if (dry_run or show_changes) else None,
            ),
            transaction_seconds=get_settings().bill_upload_transaction_ms / 1000,
        )
        progress.finish()
        problems.flush()
    if done.ignored_columns:
        click.echo(f"Columns ignored: {', '.join(done.ignored_columns)}.")
    if done.rejects_written:
        click.echo(
            f"{done.rejects_written} rows refused or left unchanged are in {rejects_path}, with their line and reason."
        )
    click.echo(_summary(done.report))
    return done.report


def _change_printer(progress: _Progress) -> Callable[[BillChange | CustomerChange], None]:
    def print_change(change: BillChange | CustomerChange) -> None:
        progress.finish()  # the list starts below the finished bar
        click.echo(describe_change(change))

    return print_change


def _on_terminal() -> bool:
    """Progress bars (on stderr) only for a person at a terminal: logs and pipes get the summary alone."""
    return sys.stderr.isatty()


class _Progress:
    """A bar per stage, on stderr, on a terminal only: reading and checking the file, then writing."""

    def __init__(self, on_terminal: bool) -> None:
        self._on = on_terminal
        self._bar: Any = None
        self._unit = ""

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.finish()

    def start_reading(self, size: int, unit: str) -> None:
        if self._on:
            self._open("Reading and checking", max(size, 1))

    def read(self, position: int) -> None:
        if self._bar is not None:
            self._bar.update(position - self._bar.pos)

    def stage(self, name: str) -> None:
        if not self._on:
            return
        self.finish()
        if name != "writing":
            click.echo(f"{name[0].upper()}{name[1:]}...", err=True)

    def written(self, done: int, total: int) -> None:
        if not self._on or not total:
            return
        if self._bar is None:
            self._open("Writing (customers)", max(total, 1))
        self._bar.update(done - self._bar.pos)

    def _open(self, label: str, length: int) -> None:
        self.finish()
        self._bar = click.progressbar(length=length, label=label, file=sys.stderr)
        self._bar.__enter__()

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


class _Problems:
    """Where refused rows and conflicts go when there is no rejects file: stderr, held back until the progress
    bars are done on a terminal (in a temporary file: there may be a million of them)."""

    def __init__(self, *, defer: bool) -> None:
        self._spool: TextIO | None = tempfile.TemporaryFile("w+", encoding="utf-8") if defer else None  # noqa: SIM115

    def __enter__(self) -> _Problems:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._spool is not None:
            self._spool.close()

    def add(self, problem: RejectedRow | Conflict) -> None:
        label = "rejected" if isinstance(problem, RejectedRow) else "conflict"
        line = f"{label}: {problem}"
        if self._spool is not None:
            self._spool.write(line.replace("\n", " ") + "\n")
        else:
            click.echo(line, err=True)

    def flush(self) -> None:
        if self._spool is None:
            return
        self._spool.seek(0)
        for line in self._spool:
            click.echo(line, err=True, nl=False)
        self._spool.seek(0)
        self._spool.truncate()


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
    if report.upload_id is not None:
        counts += f" Upload #{report.upload_id}"
        counts += f" (finishes #{report.resumed_id})." if report.resumed_id else "."
    return counts


@bills_group.command("uploads")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="At most this many uploads.")
@format_option
@with_appcontext
def uploads_command(limit: int, output_format: str) -> None:
    """Show the latest uploads: who loaded which file, how far it got, what it did."""
    with get_db().transaction() as session:
        uploads = list_uploads(session=session, limit=limit)
        rows = [_upload_row(upload) for upload in uploads]
        notes = [note for note in map(_upload_note, uploads) if note]
    echo_sections([Section("uploads", UPLOAD_COLUMNS, rows, empty="No uploads.")], output_format)
    if notes and output_format == "table":
        click.echo("\n".join(notes))


UPLOAD_COLUMNS = (
    Column("id", "#", Kind.NUMBER),
    Column("started_at", "started", Kind.TIME),
    Column("file"),
    Column("by"),
    Column("state"),
    Column("rows", kind=Kind.NUMBER),
    Column("customers_written", "customers written"),
    Column("created", kind=Kind.NUMBER),
    Column("updated", kind=Kind.NUMBER),
    Column("unchanged", kind=Kind.NUMBER),
    Column("conflicts", kind=Kind.NUMBER),
    Column("rejected", kind=Kind.NUMBER),
)


def _upload_row(upload: BillUpload) -> tuple[object, ...]:
    return (
        upload.id,
        upload.started_at,
        upload.file_name,
        upload.operator,
        upload.state.value,
        upload.rows,
        f"{upload.customers_written} of {upload.customers_to_write}",
        upload.bills_created,
        upload.bills_updated,
        upload.bills_unchanged,
        upload.conflicts,
        upload.rejected,
    )


def _upload_note(upload: BillUpload) -> str | None:
    if upload.resumed_by_id:
        return f"#{upload.id} was {upload.state.value}; upload #{upload.resumed_by_id} of the same file finished it."
    if upload.state in (BillUploadState.INTERRUPTED, BillUploadState.FAILED) and upload.customers_written:
        error = f" ({upload.error})" if upload.error else ""
        return (
            f"#{upload.id} {upload.state.value}{error} after writing {upload.customers_written} of "
            f"{upload.customers_to_write} customers: `bills upload --resume` (or the same file again) finishes it."
        )
    return None


@bills_group.command("template")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path), help="Write an Excel template.")
@click.option("--columns", "show_columns", is_flag=True, help="List every column's accepted spellings instead.")
def template_command(xlsx_path: Path | None, show_columns: bool) -> None:
    """Print a CSV header and two example rows (or write them as a workbook, with a sheet on the columns)."""
    if show_columns:
        click.echo(spellings_text(), nl=False)
        return
    if xlsx_path is None:
        click.echo(template_csv(today=india_today()), nl=False)
        return
    _write_xlsx_template(xlsx_path, india_today())
    click.echo(f"Wrote {xlsx_path}: sheet 'Bills' to fill in, sheet 'Columns' on what each column takes.")


def _write_xlsx_template(path: Path, today: dt.date) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    bills = workbook.active
    bills.title = "Bills"
    bills.append(list(COLUMNS))
    generated, due = template_dates(today)
    for example in TEMPLATE_EXAMPLES:
        *identity, amount, exactness, low, high = example
        bills.append([*identity, float(amount), due, generated, exactness,
                      float(low) if low else None, float(high) if high else None])  # fmt: skip
    for row in bills.iter_rows(min_row=2):
        row[2].number_format = "@"  # the mobile as text: Excel would show a long number as 9.88E+09
        row[7].number_format = row[8].number_format = "dd-mm-yyyy"
    columns = workbook.create_sheet("Columns")
    columns.append(["column", "required", "what it holds", "also accepted as (case, spaces, punctuation ignored)"])
    for column, names in SPELLINGS.items():
        required, meaning = COLUMN_HELP[column]
        columns.append([column, required, meaning, ", ".join(names[1:])])
    try:
        workbook.save(path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None


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


def _bill_ids(partner_bill_ids: tuple[str, ...], ids_file: Path | None) -> list[str]:
    ids = list(partner_bill_ids)
    if ids_file is not None:
        try:
            ids += read_bill_ids(ids_file)
        except ColumnMapError as exc:
            raise click.ClickException(str(exc)) from None
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise click.UsageError("give the PARTNER_BILL_IDs, or --file with one a line")
    return ids


def _confirm(question: str, yes: bool) -> None:
    """Ask a person at a terminal; a script (no terminal) or --yes goes ahead."""
    if not yes and _can_ask():
        click.confirm(question, abort=True)


def _can_ask() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _each_bill(ids: list[str], act: Callable[[str], str]) -> None:
    """Act on each bill in its own transaction; one refusal does not stop the others. Exit 1 if any was refused."""
    if len(ids) == 1:
        try:
            click.echo(act(ids[0]))
        except BillError as exc:
            raise click.ClickException(str(exc)) from None
        return
    refused = 0
    for partner_bill_id in ids:
        try:
            click.echo(act(partner_bill_id))
        except BillError as exc:
            refused += 1
            click.echo(f"refused: {exc}", err=True)
    click.echo(f"{len(ids) - refused} of {len(ids)} bills done; {refused} refused.")
    if refused:
        sys.exit(1)


@bills_group.command("cancel")
@click.argument("partner_bill_ids", nargs=-1)
@click.option(
    "--file", "ids_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A file of bill ids."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def cancel_command(partner_bill_ids: tuple[str, ...], ids_file: Path | None, yes: bool) -> None:
    """Cancel bills so that BBPS is no longer offered them (refused for a bill with a payment)."""
    ids = _bill_ids(partner_bill_ids, ids_file)
    _confirm(f"Cancel {len(ids)} bill(s)? Partners will no longer be offered them.", yes)

    def cancel(partner_bill_id: str) -> str:
        with get_db().transaction() as session:
            bill = cancel_bill(session=session, partner_bill_id=partner_bill_id)
            return f"Bill {bill.partner_bill_id} is cancelled."

    _each_bill(ids, cancel)


@bills_group.command("close")
@click.argument("partner_bill_ids", nargs=-1)
@click.option("--reason", required=True, help="Why, e.g. 'foreclosed 12/11/2026' or 'written off'.")
@click.option(
    "--file", "ids_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A file of bill ids."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def close_command(partner_bill_ids: tuple[str, ...], reason: str, ids_file: Path | None, yes: bool) -> None:
    """Close bills settled outside BBPS (foreclosure, write-off): no longer offered, their payments kept."""
    ids = _bill_ids(partner_bill_ids, ids_file)
    _confirm(f"Close {len(ids)} bill(s) ({reason})? Partners will no longer be offered them.", yes)

    def close(partner_bill_id: str) -> str:
        with get_db().transaction() as session:
            bill = close_bill(session=session, partner_bill_id=partner_bill_id, reason=reason, now=utcnow())
            return f"Bill {bill.partner_bill_id} is closed ({bill.closed_reason}); its payments stay."

    _each_bill(ids, close)
