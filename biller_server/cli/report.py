"""``biller-server report``: the day's payments per channel and what the books disagree about."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import click
from flask.cli import with_appcontext

from biller_server.cli.settlements import settlement_command
from biller_server.domain.india import IST
from biller_server.domain.reports.daily import (
    CSV_HEADER,
    daily_report,
    report_csv_rows,
    report_json,
    report_table,
)
from biller_server.extensions import get_db
from biller_server.persistence.types import utcnow


@click.group("report")
def report_group() -> None:
    """Reports for operations and finance."""


@report_group.command("daily")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The day, YYYY-MM-DD, in India time (Asia/Kolkata). Default: yesterday in India.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"], case_sensitive=False),
    default="table",
    show_default=True,
)
@with_appcontext
def daily_command(day: dt.datetime | None, output_format: str) -> None:
    """Payments of one day per channel (received, confirmed, failed, pending, unresolved) and the reconciliation.

    The day is a calendar day in India time (Asia/Kolkata). Each payment is counted in the state it is in now.
    """
    now = utcnow()
    report_day = day.date() if day is not None else now.astimezone(IST).date() - dt.timedelta(days=1)
    with get_db().new_session() as session:
        report = daily_report(session=session, day=report_day, now=now)
    match output_format.lower():
        case "json":
            click.echo(json.dumps(report_json(report), indent=2))
        case "csv":
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            writer.writerows(report_csv_rows(report))
            click.echo(text.getvalue(), nl=False)
        case _:
            click.echo(report_table(report))


report_group.add_command(settlement_command)
