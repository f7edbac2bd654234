"""What every upload file is to the reader, whatever its format: its records, and the header found among them.

The CSV reader (``reader``) and the workbook reader (``xlsx``) both produce ``Record``s through a ``RowSource``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol

from biller_server.domain.upload.formats import BILLS, REQUIRED_COLUMNS, Vocabulary, cell_text, header_score

__all__ = ["HEADER_SEARCH_ROWS", "REQUIRED_COLUMNS", "Record", "RowSource", "UploadFileError", "find_header"]

HEADER_SEARCH_ROWS = 20  # title lines above the header that exports often carry


class UploadFileError(Exception):
    """The file as a whole cannot be read as a bill upload (the message is one line an operator can act on)."""


class Record(NamedTuple):
    line: int
    cells: list[object]  # str for CSV; Excel's own types (str, float, int, date, datetime, bool) for a workbook


class RowSource(Protocol):
    """One file's rows: the header found, then every record after it; progress in units of ``size``."""

    name: str
    size: int
    header: list[str]
    header_line: int
    is_text: bool  # every cell is text (CSV), not a spreadsheet's typed value

    def records(self) -> Iterator[Record]: ...

    def position(self) -> int: ...

    def close(self) -> None: ...


def find_header(
    rows: Iterable[tuple[int, Sequence[object]]], name: str, vocabulary: Vocabulary = BILLS
) -> tuple[int, list[str]]:
    """The header is the row, among the first few non-empty ones, that names most of our columns."""
    best: tuple[int, int, list[str]] | None = None
    first: tuple[int, list[str]] | None = None
    seen = 0
    for line, cells in rows:
        texts = [cell_text(cell).strip() for cell in cells]
        if not any(texts):
            continue
        while not texts[-1]:
            texts.pop()  # trailing empty header cells: a sheet's used range, or a trailing separator
        first = first if first is not None else (line, texts)
        score = header_score(texts, vocabulary)
        if score and (best is None or score > best[0]):
            best = (score, line, texts)
        seen += 1
        if seen >= HEADER_SEARCH_ROWS or (best is not None and best[0] >= len(vocabulary.required)):
            break
    if first is None:
        raise UploadFileError(f"{name} is empty: expected a header line, then one {vocabulary.row_noun} per line")
    if best is None:
        return first  # no row names any of our columns: matching the first reports what is missing
    return best[1], best[2]
