"""Reading a bill upload from an Excel workbook (``.xlsx``), with Excel's own cell types.

openpyxl's read-only mode streams the sheet's XML, so memory does not grow with the number of rows (only the
workbook's table of distinct strings is held); bench/RESULTS.md has the measurement against python-calamine,
which builds the whole sheet in memory first. Cells come as Excel holds them: text, numbers (a mobile typed as
a number arrives whole, not as ``9.87654E+09``), dates and date-times.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from biller_server.domain.bill_upload_csv import Record, UploadFileError, find_header


class XlsxSource:
    """The first sheet of a workbook, or the one named; lines are the sheet's row numbers."""

    is_text = False

    def __init__(self, path: Path, *, sheet: str | None = None) -> None:
        from openpyxl import load_workbook  # imported here: only uploads of workbooks pay for it

        self.name = path.name
        try:
            # data_only: a formula's cell gives the value Excel last computed, as the lender saw it.
            self._workbook: Any = load_workbook(path, read_only=True, data_only=True)
        except FileNotFoundError:
            raise UploadFileError(f"cannot open {path}: no such file") from None
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise UploadFileError(
                f"{path.name} is not an Excel workbook (.xlsx) that can be read ({type(exc).__name__}): "
                "save it again from Excel as 'Excel Workbook (*.xlsx)'"
            ) from None
        try:
            if sheet is None:
                self._sheet = self._workbook.worksheets[0]
            elif sheet in self._workbook.sheetnames:
                self._sheet = self._workbook[sheet]
            else:
                names = ", ".join(repr(name) for name in self._workbook.sheetnames)
                raise UploadFileError(f"{path.name} has no sheet {sheet!r}; its sheets are {names}")
            if not hasattr(self._sheet, "iter_rows"):
                raise UploadFileError(f"{path.name}: sheet {self._sheet.title!r} is a chart, not a sheet of rows")
            # Saved by some tools without its size: openpyxl would then read only the first cell of each row.
            if self._sheet.max_column is None or self._sheet.max_row is None:
                self._sheet.reset_dimensions()
            self.size = self._sheet.max_row or 0
            self._row = 0
            self.header_line, self.header = find_header(self._numbered(), self.name)
        except BaseException:
            self.close()
            raise

    def _numbered(self) -> Iterator[tuple[int, tuple[object, ...]]]:
        # From row 1: openpyxl then yields every row, empty ones included, so the count is the row number.
        for line, row in enumerate(self._sheet.iter_rows(min_row=1, values_only=True), start=1):
            self._row = line
            yield line, row

    def records(self) -> Iterator[Record]:
        for line, cells in self._numbered():
            if line > self.header_line:
                yield Record(line, list(cells))

    def position(self) -> int:
        return self._row

    def close(self) -> None:
        workbook = getattr(self, "_workbook", None)
        if workbook is not None:
            workbook.close()
