"""What list and show commands print, in three formats (``--format table|csv|json``), from one description.

- **table**, for people: columns sized to their content (tabulate), amounts in rupees grouped the Indian way
  (``12,50,000.50``), times in India time with the zone in the column's title (``paid at (IST)``).
- **csv**, for spreadsheets: plain amounts (``1250000.50``) and ISO 8601 times in UTC with their offset. A list is
  one header row and a row per item; a show (one record with its lists) is ``section,index,field,value`` rows.
- **json**, for programs: amounts as strings of rupees with two decimals (``"1250000.50"``), exact like the
  webhook's and the export's, never a float that a reader could round; times in UTC with their offset.

A command describes its output as ``Section``s of ``Column``s and hands them to ``echo_sections``.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click
import tabulate as tabulate_module
from tabulate import tabulate

from biller_server.domain.india import IST
from biller_server.domain.money import rupees_indian, rupees_text

FORMATS = ("table", "csv", "json")
# tabulate widens every column by 2 beyond its title when there are titles; columns here fit their content.
tabulate_module.MIN_PADDING = 0


class Kind(enum.Enum):
    TEXT = "text"
    NUMBER = "number"
    AMOUNT = "amount"  # integer paise
    TIME = "time"  # an aware datetime
    DATE = "date"
    FLAG = "flag"  # a bool
    DATA = "data"  # structured (a JSON value): pretty JSON in a table, as is in JSON, compact JSON in CSV


@dataclass(frozen=True)
class Column:
    key: str  # the JSON key and CSV header
    title: str = ""  # the table's title (default: the key in words)
    kind: Kind = Kind.TEXT

    @property
    def table_title(self) -> str:
        title = self.title or self.key.replace("_", " ")
        return f"{title} (IST)" if self.kind is Kind.TIME else title


@dataclass
class Section:
    """One record (``record=True``: a show) or a list of rows, each row's values in the columns' order."""

    name: str
    columns: Sequence[Column]
    rows: list[Sequence[Any]] = field(default_factory=list)
    record: bool = False
    empty: str = "none"  # what a table says for an empty list
    title: str | None = None  # a heading above the table (default: none for the first section, else the name)


def format_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS, case_sensitive=False),
        default="table",
        show_default=True,
        help="table for people (India time, Indian grouping), csv for spreadsheets, json for programs.",
    )(function)


def echo_sections(sections: Sequence[Section], output_format: str) -> None:
    click.echo(render(sections, output_format), nl=False)


def render(sections: Sequence[Section], output_format: str) -> str:
    match output_format.lower():
        case "json":
            return _json(sections) + "\n"
        case "csv":
            return _csv(sections)
        case _:
            return _table(sections) + "\n"


# Table --------------------------------------------------------------------------------------------------------


def _table(sections: Sequence[Section]) -> str:
    blocks = []
    for index, section in enumerate(sections):
        heading = section.title if section.title is not None else (None if index == 0 else section.name)
        lines = [heading] if heading else []
        if section.record:
            values = section.rows[0] if section.rows else [None] * len(section.columns)
            shown = [
                (column, value) for column, value in zip(section.columns, values, strict=True) if value is not None
            ]
            width = max((len(column.table_title) for column, _ in shown), default=0) + 2
            for column, value in shown:
                text = table_cell(column, value, pretty=True).replace("\n", "\n" + " " * width)
                lines.append(f"{column.table_title + ':':<{width}}{text}")
        elif not section.rows:
            lines.append(section.empty)
        else:
            lines.append(
                tabulate(
                    [
                        [table_cell(column, value) for column, value in zip(section.columns, row, strict=True)]
                        for row in section.rows
                    ],
                    headers=[column.table_title for column in section.columns],
                    colalign=[_alignment(column) for column in section.columns],
                    disable_numparse=True,  # text stays text: "007" is a reference, not 7
                )
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _alignment(column: Column) -> str:
    return "right" if column.kind in (Kind.AMOUNT, Kind.NUMBER) else "left"


def table_cell(column: Column, value: Any, *, pretty: bool = False) -> str:
    """A value as a table shows it (``pretty``: structured data indented, for a record's own lines)."""
    if value is None:
        return "-"
    match column.kind:
        case Kind.AMOUNT:
            return rupees_indian(value)
        case Kind.TIME:
            return ist_text(value)
        case Kind.DATE:
            return value.isoformat()
        case Kind.FLAG:
            return "yes" if value else "no"
        case Kind.DATA if isinstance(value, str):
            return value
        case Kind.DATA:
            return json.dumps(value, indent=2 if pretty else None, ensure_ascii=False)
        case _:
            return str(value)


def ist_text(moment: dt.datetime) -> str:
    """A time as people read it here: India time, to the second (the zone is in the column's title)."""
    return moment.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


# CSV and JSON --------------------------------------------------------------------------------------------------


def plain_value(column: Column, value: Any) -> Any:
    """The value for a program: rupee text, UTC ISO times, plain JSON values."""
    if value is None:
        return None
    match column.kind:
        case Kind.AMOUNT:
            return rupees_text(value)
        case Kind.TIME:
            return value.astimezone(dt.UTC).isoformat()
        case Kind.DATE:
            return value.isoformat()
        case Kind.TEXT:
            return str(value)
        case _:
            return value


def _csv_cell(column: Column, value: Any) -> str:
    plain = plain_value(column, value)
    if plain is None:
        return ""
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if column.kind is Kind.DATA and not isinstance(plain, str):
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    return str(plain)


def _csv(sections: Sequence[Section]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if len(sections) == 1 and not sections[0].record:
        section = sections[0]
        writer.writerow([column.key for column in section.columns])
        for row in section.rows:
            writer.writerow([_csv_cell(column, value) for column, value in zip(section.columns, row, strict=True)])
        return buffer.getvalue()
    writer.writerow(["section", "index", "field", "value"])
    for section in sections:
        for index, row in enumerate(section.rows, start=1):
            for column, value in zip(section.columns, row, strict=True):
                writer.writerow([section.name, "" if section.record else index, column.key, _csv_cell(column, value)])
    return buffer.getvalue()


def _json_object(section: Section, row: Sequence[Any]) -> dict[str, Any]:
    return {column.key: plain_value(column, value) for column, value in zip(section.columns, row, strict=True)}


def _json_value(section: Section) -> Any:
    if section.record:
        return _json_object(section, section.rows[0]) if section.rows else None
    return [_json_object(section, row) for row in section.rows]


def _json(sections: Sequence[Section]) -> str:
    if len(sections) == 1:
        return json.dumps(_json_value(sections[0]), indent=2, ensure_ascii=False)
    return json.dumps({section.name: _json_value(section) for section in sections}, indent=2, ensure_ascii=False)
