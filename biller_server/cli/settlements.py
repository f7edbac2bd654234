"""``biller-server settlements`` and ``bank``: bring in what partners settled and what the bank received; ``report
settlement`` (registered on the report group) shows what matches and what does not (docs/reconciliation.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from biller_server.cli.output import Column, Kind, Section, echo_sections, format_option
from biller_server.cli.payments import operator_name
from biller_server.domain.errors import DomainError
from biller_server.domain.india import IST
from biller_server.domain.money import rupees_indian
from biller_server.domain.payments.decisions import decision_line
from biller_server.domain.settlement import (
    Break,
    ack_break,
    import_bank_statement,
    import_settlement_report,
    settlement_report,
)
from biller_server.domain.settlement.files import BANK_STATEMENT, SETTLEMENT_REPORT
from biller_server.domain.staff.audit import record_audit
from biller_server.domain.upload.formats import ColumnMapError, Vocabulary, parse_column_mapping, read_column_map
from biller_server.extensions import get_db, get_settings
from biller_server.persistence.types import utcnow


def _column_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--columns FILE and --column OURS=THEIRS, as in ``bills upload``."""
    function = click.option(
        "--column",
        "column_pairs",
        multiple=True,
        metavar="OURS=THEIRS",
        help="Name the file's column for one of ours (repeatable).",
    )(function)
    function = click.option(
        "--columns",
        "columns_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A column map: one OURS=THEIRS a line.",
    )(function)
    return click.option("--sheet", default=None, help="The workbook's sheet (default: the first).")(function)


def _columns(vocabulary: Vocabulary, columns_file: Path | None, pairs: tuple[str, ...]) -> dict[str, str]:
    columns = read_column_map(columns_file, vocabulary=vocabulary) if columns_file else {}
    for pair in pairs:
        ours, theirs = parse_column_mapping(pair, vocabulary=vocabulary)
        columns[ours] = theirs
    return columns


def _audit(session: Session, action: str, file: Path, **detail: object) -> None:
    """Who brought which file, in the audit log (the import's own rows say what it wrote)."""
    record_audit(
        session=session,
        actor=f"cli:{operator_name()}",
        action=action,
        outcome="ok",
        now=utcnow(),
        target=f"file:{file.name}",
        detail=dict(detail),
    )


def _refuse_unreadable_rows(file: Path, problems: list[str], shown: int = 20) -> None:
    """A file with rows that cannot be read imports nothing: name them (the first few) and stop."""
    if not problems:
        return
    for problem in problems[:shown]:
        click.echo(f"  {problem}", err=True)
    more = len(problems) - shown
    raise click.ClickException(
        f"{file.name}: {len(problems)} row(s) cannot be read"
        + (f" ({more} more not shown)" if more > 0 else "")
        + "; nothing was imported"
    )


@click.group("settlements")
def settlements_group() -> None:
    """What partners say they settled to the lender's bank; acknowledge a reconciliation break."""


@settlements_group.command("import")
@click.option("--partner", required=True, help="Whose report it is: setu, kaleidofin, digiledge, or any name.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--amounts",
    type=click.Choice(["paise", "rupees"]),
    default=None,
    help="How the file writes amounts (default: paise for setu, as its reports do; rupees otherwise).",
)
@_column_options
@with_appcontext
def import_command(
    partner: str,
    file: Path,
    amounts: str | None,
    sheet: str | None,
    columns_file: Path | None,
    column_pairs: tuple[str, ...],
) -> None:
    """Import a partner's settlement report (CSV, .xlsx, or the Reports API's JSON); importing it again changes
    nothing. Rows with the same UTR are one settlement line."""
    partner = partner.strip().lower()
    try:
        columns = _columns(SETTLEMENT_REPORT, columns_file, column_pairs)
        with get_db().transaction() as session:
            result = import_settlement_report(
                session=session,
                path=file,
                partner=partner,
                columns=columns,
                amounts=amounts,  # type: ignore[arg-type]
                sheet=sheet,
                now=utcnow(),
            )
            if result.problems:
                session.rollback()
            else:
                _audit(session, "settlements.import", file, partner=partner, created=result.lines_created)
    except (ColumnMapError, DomainError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    _refuse_unreadable_rows(file, result.problems)
    click.echo(
        f"{file.name}: {result.rows} row(s); settlement lines: {result.lines_created} new, "
        f"{result.lines_changed} changed, {result.lines_unchanged} already imported; "
        f"{result.payments_settled} of our payment(s) covered"
    )
    if result.not_settled:
        words = ", ".join(f"{count} {status}" for status, count in sorted(result.not_settled.items()))
        click.echo(f"not settled yet (skipped): {words}; {result.statuses_noted} payment state(s) noted")
    if result.unknown_refs:
        shown = ", ".join(result.unknown_refs[:10])
        click.echo(f"{len(result.unknown_refs)} reference(s) name no payment of ours: {shown}")


@settlements_group.command("ack")
@click.argument("break_key", metavar="BREAK")
@click.option("--note", required=True, help="What you found and did.")
@click.option("--by", default=None, help="Who acknowledges (default: the OS user).")
@with_appcontext
def ack_command(break_key: str, note: str, by: str | None) -> None:
    """Acknowledge a reconciliation break by its key (from `report settlement`); it leaves the open list."""
    try:
        with get_db().transaction() as session:
            changed, message = ack_break(
                session=session, key=break_key, note=note, by=by or operator_name(), now=utcnow()
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(decision_line(message, changed))


@click.group("bank")
def bank_group() -> None:
    """The lender's bank statement, for settlement reconciliation."""


@bank_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_column_options
@with_appcontext
def bank_import_command(
    file: Path, sheet: str | None, columns_file: Path | None, column_pairs: tuple[str, ...]
) -> None:
    """Import a bank statement export (CSV or .xlsx); an entry imported before is skipped."""
    try:
        columns = _columns(BANK_STATEMENT, columns_file, column_pairs)
        with get_db().transaction() as session:
            result = import_bank_statement(
                session=session,
                path=file,
                columns=columns,
                sheet=sheet,
                now=utcnow(),
                on_progress=lambda count: click.echo(f"  {count} entries read", err=True),
            )
            if result.problems:
                session.rollback()
            else:
                _audit(session, "bank.import", file, added=result.added, already_imported=result.already_imported)
    except (ColumnMapError, DomainError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    _refuse_unreadable_rows(file, result.problems)
    added = f"{result.added} entr{'y' if result.added == 1 else 'ies'} added"
    if result.added:
        added += f" (credits ₹{rupees_indian(result.credits_paise)}, debits ₹{rupees_indian(result.debits_paise)})"
    click.echo(f"{file.name}: {result.rows} row(s); {added}, {result.already_imported} already imported")
    if result.without_utr:
        click.echo(f"{result.without_utr} credit(s) without a UTR: matched by partner, date and amount only")


MATCH_COLUMNS = (
    Column("partner"),
    Column("utr", "UTR"),
    Column("settled_on", kind=Kind.DATE),
    Column("amount", kind=Kind.AMOUNT),
    Column("payments", kind=Kind.NUMBER),
    Column("bank_date", kind=Kind.DATE),
    Column("matched_by"),
)
BREAK_COLUMNS = (
    Column("key", "break"),
    Column("kind"),
    Column("partner"),
    Column("reference"),
    Column("expected", kind=Kind.AMOUNT),
    Column("received", kind=Kind.AMOUNT),
    Column("difference", kind=Kind.AMOUNT),
    Column("detail"),
)
ACK_COLUMNS = (*BREAK_COLUMNS, Column("acked_by", "acknowledged by"), Column("note"))
SUMMARY_COLUMNS = (Column("what"), Column("count", kind=Kind.NUMBER), Column("amount", kind=Kind.AMOUNT))


def _break_row(item: Break) -> tuple[object, ...]:
    return (
        item.key,
        item.kind.value,
        item.partner,
        item.reference,
        item.expected_paise,
        item.received_paise,
        item.difference_paise,
        item.detail,
    )


@click.command("settlement")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The day, YYYY-MM-DD, in India time. Default: yesterday in India.",
)
@format_option
@with_appcontext
def settlement_command(day: dt.datetime | None, output_format: str) -> None:
    """Payments, partners' settlement lines and bank credits of one day, matched to the paisa; what does not match
    is a break, shown until acknowledged (`settlements ack`)."""
    now = utcnow()
    report_day = day.date() if day is not None else now.astimezone(IST).date() - dt.timedelta(days=1)
    with get_db().new_session() as session:
        report = settlement_report(
            session=session,
            day=report_day,
            never_settled_after_days=get_settings().settlement_expected_within_days,
            now=now,
        )
    summary = report.summary()
    sections = [
        Section("summary", SUMMARY_COLUMNS, summary, title=f"settlement reconciliation, {report_day:%d %b %Y}"),
        Section(
            "matched",
            MATCH_COLUMNS,
            [
                (m.partner, m.settlement_ref, m.settled_on, m.amount_paise, m.payments, m.bank_date, m.matched_by)
                for m in report.matches
            ],
            empty="Nothing matched.",
        ),
        Section(
            "breaks",
            BREAK_COLUMNS,
            [_break_row(item) for item in report.breaks],
            empty="No open breaks: the day is reconciled.",
            title=f"open breaks ({len(report.breaks)})",
        ),
        Section(
            "acknowledged",
            ACK_COLUMNS,
            [(*_break_row(item), item.acked_by, item.ack_note) for item in report.acknowledged],
            empty="none",
        ),
    ]
    echo_sections(sections, output_format)
