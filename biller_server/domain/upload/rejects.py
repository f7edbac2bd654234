"""The rejects file: every row an upload refused (or left alone as a conflict), as it came, with its line and
reason in two added columns, so the lender fixes that file and uploads just it.

CSV unless the name ends in ``.xlsx``. Formula-safe: a value that a spreadsheet would run as a formula (it starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, OWASP's list) is written after an apostrophe, which
spreadsheets show as text; reading an upload file takes such an apostrophe off again (``unguard``), so the
fixed rejects file uploads as it is. In a workbook every cell is written as text, never as a formula.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LINE_COLUMN = "upload_line"
REASON_COLUMN = "upload_reason"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard(value: str) -> str:
    """A value a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def unguard(value: str) -> str:
    """Undo ``guard``: an apostrophe before a formula character is taken off."""
    return value[1:] if value.startswith("'") and value[1:2] and value[1] in "=+-@\t\r" else value


class RejectsFile:
    """Opened before the upload reads its first row; ``add`` writes each refused row as it is found."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.count = 0
        self._width = len(header)
        self._workbook: Any = None
        columns = [*header, LINE_COLUMN, REASON_COLUMN]
        try:
            if path.suffix.casefold() == ".xlsx":
                from openpyxl import Workbook

                self._workbook = Workbook(write_only=True)
                self._sheet = self._workbook.create_sheet("Rejected")
                self._append(columns)
            else:
                self._file = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by close()
                self._writer = csv.writer(self._file)
                self._writer.writerow([guard(name) for name in columns])
        except OSError as exc:
            raise OSError(f"cannot write the rejects file {path}: {exc.strerror}") from None

    def add(self, line: int, record: Sequence[str], reason: str) -> None:
        cells = list(record[: self._width]) + [""] * (self._width - len(record))
        row = [*cells, str(line), reason]
        self.count += 1
        if self._workbook is not None:
            self._append(row)
        else:
            self._writer.writerow([guard(cell) for cell in row])

    def _append(self, row: Sequence[str]) -> None:
        from openpyxl.cell import WriteOnlyCell

        cells = []
        for value in row:
            cell = WriteOnlyCell(self._sheet, value=value)
            cell.data_type = "s"  # text, even when it starts with "=": a workbook cell is never made a formula
            cells.append(cell)
        self._sheet.append(cells)

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.save(self.path)
            self._workbook = None
        elif not self._file.closed:
            self._file.close()
