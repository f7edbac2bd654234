"""Reading a bill upload from an Excel workbook (``.xlsx``), streamed, with Excel's own cell types.

Measured on a 1,000,000-row workbook (bench/RESULTS.md): python-calamine builds the whole sheet in memory first
(1.2 GB), and openpyxl's read-only mode streams but spends about 50 µs of Python on every cell (over 10 minutes
for the file). So the sheet is read here as it is stored: its XML streamed out of the zip archive and cut into
cells by regular expressions, a row at a time; the table of distinct strings that cells point into goes to a
temporary file (offsets in an array), so memory stays flat whatever the size of the workbook. openpyxl is used
only for what it knows better: which number formats are dates, and Excel's day numbers.

Cells come as Excel holds them: text, numbers (a mobile typed as a number arrives whole, not as ``9.87654E+09``),
booleans, and dates or date-times for numbers formatted as dates.

Cutting a large sheet into cells is most of what reading it costs (about four times a CSV of the same rows), so a
sheet over ``READER_PROCESS_BYTES`` is cut in a second process (``serve_rows``), which sends the rows through a
pipe while this one checks and stages the rows before them: two cores instead of one. The child is a fresh
interpreter (``subprocess``: nothing of this process, such as a database engine's open connections, is copied into
it) that imports only this package; the pipe holds at most a megabyte of rows, so memory stays flat.
"""

from __future__ import annotations

import array
import contextlib
import datetime as dt
import fcntl
import html
import mmap
import os
import pickle
import posixpath
import re
import signal
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from biller_server.domain.upload.formats import BILLS, Vocabulary
from biller_server.domain.upload.source import Record, UploadFileError, find_header

# Read 64 kB of the sheet at a time: the cells of a read are cut at once, and a megabyte's worth (45,000 cells'
# tuples) kept the cycle collector busy enough to cost a fifth of the reading.
_CHUNK = 64 << 10
# Sheets whose XML is larger than this (about 45,000 rows of 15 columns) are cut into rows by a second process:
# starting it costs about half a second of CPU, reading a sheet this size in this process about a second.
READER_PROCESS_BYTES = 32 << 20
_ROWS_PER_MESSAGE = 1000
_PIPE_BYTES = 1 << 20  # how far the reader process may run ahead: one pipe's worth of rows
_FRAME = struct.Struct("<I")
# A failure of the stream itself, part-way through the sheet: a damaged or cut-off archive.
_STREAM_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# OOXML writes control characters in text as _xHHHH_.
_ESCAPED_CHARACTER = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ATTRIBUTE = re.compile(rb'([\w:]+)="([^"]*)"')
_TEXT_RUN = re.compile(rb"<(?:\w+:)?t(?:\s[^>]*)?>([^<]*)</(?:\w+:)?t>|<(?:\w+:)?t(?:\s[^>]*)?/>")
_PHONETIC = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_VALUE = re.compile(rb"<(?:\w+:)?v(?:\s[^>]*)?>([^<]*)</(?:\w+:)?v>")
_COLUMN_LETTERS = re.compile(rb"[A-Z]+")


class XlsxSource:
    """The first sheet of a workbook, or the one named; lines are the sheet's row numbers."""

    is_text = False

    def __init__(
        self,
        path: Path,
        *,
        sheet: str | None = None,
        vocabulary: Vocabulary = BILLS,
        reader_process: bool | None = None,
    ) -> None:
        """``reader_process``: cut the rows in a second process (None: when the sheet is over
        ``READER_PROCESS_BYTES``)."""
        self._process: subprocess.Popen[bytes] | None = None
        self._open(path, sheet, vocabulary)
        self._reader_process = self.size > READER_PROCESS_BYTES if reader_process is None else reader_process

    @classmethod
    def _rows_only(cls, path: Path, sheet: str | None) -> XlsxSource:
        """The sheet opened for its rows alone, without looking for the header (the reader process's side)."""
        source = cls.__new__(cls)
        source._process = None
        source._open(path, sheet, None)
        return source

    def _open(self, path: Path, sheet: str | None, vocabulary: Vocabulary | None) -> None:
        """Open the archive, read what the sheet's cells point into (dates' styles, the shared strings), and find
        the header by ``vocabulary``'s column names."""
        self.name = path.name
        self._path, self._sheet = path, sheet
        self._strings: _SharedStrings | None = None
        self._position = 0
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise UploadFileError(f"cannot open {path}: no such file") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise _not_a_workbook(path, exc) from None
        try:
            sheets, self._date1904 = self._read_workbook(path)
            if sheet is None:
                self._sheet_path = sheets[0][1]
            else:
                found = dict(sheets).get(sheet)
                if found is None:
                    names = ", ".join(repr(name) for name, _ in sheets)
                    raise UploadFileError(f"{path.name} has no sheet {sheet!r}; its sheets are {names}")
                self._sheet_path = found
            self.size = self._zip.getinfo(self._sheet_path).file_size
            self._date_styles = self._read_date_styles()
            self._strings = _SharedStrings.read(self._zip)
            if vocabulary is not None:
                self.header_line, self.header = find_header(self._rows(), self.name, vocabulary)
        except UploadFileError:
            self.close()
            raise
        except (KeyError, ValueError, zipfile.BadZipFile, OSError, IndexError) as exc:
            self.close()
            raise _not_a_workbook(path, exc) from None
        except BaseException:
            self.close()
            raise

    def _read_workbook(self, path: Path) -> tuple[list[tuple[str, str]], bool]:
        """The workbook's sheets in order, as (name, path of its XML in the archive); and its date system."""
        workbook = self._zip.read("xl/workbook.xml")
        relations = {
            attributes[b"Id"].decode(): attributes[b"Target"].decode()
            for attributes in map(_attributes, re.findall(rb"<(?:\w+:)?Relationship\b[^>]*>",
                                                           self._zip.read("xl/_rels/workbook.xml.rels")))
        }  # fmt: skip
        sheets = []
        for tag in re.findall(rb"<(?:\w+:)?sheet\b[^>]*>", workbook):
            attributes = _attributes(tag)
            relation = next((value for key, value in attributes.items() if key.endswith(b":id")), b"").decode()
            target = relations.get(relation)
            if target is None:
                continue
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            sheets.append((html.unescape(attributes[b"name"].decode()), target))
        if not sheets:
            raise UploadFileError(f"{path.name} has no sheet")
        date1904 = re.search(rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904=\"(?:1|true)\"", workbook) is not None
        return sheets, date1904

    def _read_date_styles(self) -> frozenset[int]:
        """The cell styles (``s``) whose number format shows a date: Excel keeps dates as day numbers."""
        from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

        try:
            styles = self._zip.read("xl/styles.xml")
        except KeyError:
            return frozenset()
        formats = {number: code for number, code in BUILTIN_FORMATS.items()}
        for tag in re.findall(rb"<(?:\w+:)?numFmt\b[^>]*>", styles):
            attributes = _attributes(tag)
            formats[int(attributes[b"numFmtId"])] = html.unescape(attributes[b"formatCode"].decode())
        cell_xfs = re.search(rb"<(?:\w+:)?cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", styles, re.S)
        if cell_xfs is None:
            return frozenset()
        dates = set()
        for index, tag in enumerate(re.findall(rb"<(?:\w+:)?xf\b[^>]*>", cell_xfs[1])):
            code = formats.get(int(_attributes(tag).get(b"numFmtId", b"0")))
            if code is not None and is_date_format(code):
                dates.add(index)
        return frozenset(dates)

    def _rows(self) -> Iterator[tuple[int, list[object]]]:
        """(row number, cells) for every row the sheet stores, streamed out of the archive 64 kB at a time.

        Every read is cut after its last complete row, so no row spans two reads. When every cell in a read is in
        the plain forms every writer uses for values (``_plain_cells_pattern``), the whole read is cut into row
        starts and cells by one ``findall``, in C (``_plain_rows``); otherwise each row is (``_row_by_row``),
        and a row with other forms (formulas, rich text, attributes in other places) goes through the general
        pattern a cell at a time. The loops are written out flat: they run once per cell, 15 million times for
        a million rows of 15 columns.
        """
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

        self._epoch = CALENDAR_MAC_1904 if self._date1904 else CALENDAR_WINDOWS_1900
        self._from_excel = from_excel
        columns = _Columns()
        dates: dict[bytes, object] = {}
        with self._zip.open(self._sheet_path) as stream:
            buffer = self._read(stream, 4096)
            prefix = _namespace_prefix(buffer)
            patterns = _Patterns(prefix)
            position = len(buffer)
            row_number = 0
            while True:
                chunk = self._read(stream, _CHUNK)
                if not chunk and not patterns.sheet_end.search(buffer):
                    # A sheet whose XML stops part-way (its archive intact: a writer cut it short). Its last row
                    # would be read without the cells after the cut, or not at all: refused instead.
                    raise _sheet_cut_short(self._path)
                buffer += chunk
                position += len(chunk)
                end = buffer.rfind(patterns.row_end) + len(patterns.row_end) if chunk else len(buffer)
                if end < len(patterns.row_end):
                    continue
                first = buffer.find(patterns.row_tag, 0, end)
                found = patterns.plain_rows.findall(buffer, first, end) if first >= 0 else []
                if found and len(found) == buffer.count(patterns.cell_tag, first, end) + buffer.count(
                    patterns.row_tag, first, end
                ):
                    rows, row_number = self._plain_rows(found, row_number, columns, dates)
                else:
                    rows, row_number = self._row_by_row(patterns, buffer, end, row_number, columns, dates)
                yield from rows
                self._position = position
                buffer = buffer[end:]
                if not chunk:
                    break

    def _plain_rows(
        self,
        found: list[tuple[bytes, bytes, bytes, bytes, bytes, bytes]],
        row_number: int,
        columns: dict[bytes, int],
        dates: dict[bytes, object],
    ) -> tuple[list[tuple[int, list[object]]], int]:
        """The rows of one read whose cells are all plain, from its row starts and cells in sheet order."""
        date_styles = self._date_styles
        rows: list[tuple[int, list[object]]] = []
        cells: list[object] = []
        for attributes, letters, style, kind, value, text in found:
            if not letters:  # a row starts (a cell always has a column)
                if cells:
                    rows.append((row_number, cells))
                    cells = []
                number = _ROW_NUMBER.search(attributes)
                row_number = int(number[1]) if number else row_number + 1
                continue
            column = columns[letters]
            cell: object = None
            if text:
                cell = _text(text) if b"&" in text or b"_x" in text else text.decode()
            elif value:
                if (not kind or kind == b"n") and not (style and int(style) in date_styles):
                    # the common case, decided here (_number, written out)
                    cell = float(value) if b"." in value or b"E" in value or b"e" in value else int(value)
                else:
                    cell = self._value(kind or b"n", int(style or 0), value, dates)
            if column == len(cells):
                cells.append(cell)
            else:
                if column > len(cells):
                    cells.extend([None] * (column - len(cells) + 1))
                cells[column] = cell
        if cells:
            rows.append((row_number, cells))
        return rows, row_number

    def _row_by_row(
        self,
        patterns: _Patterns,
        buffer: bytes,
        end: int,
        row_number: int,
        columns: dict[bytes, int],
        dates: dict[bytes, object],
    ) -> tuple[list[tuple[int, list[object]]], int]:
        """The rows of one read, each cut on its own: the plain pattern where it takes every cell, else the
        general one."""
        rows: list[tuple[int, list[object]]] = []
        for attributes, body in patterns.rows.findall(buffer, 0, end):
            number = _ROW_NUMBER.search(attributes)
            row_number = int(number[1]) if number else row_number + 1
            if not body:
                continue
            found = patterns.plain.findall(body)
            if len(found) == body.count(patterns.cell_tag):
                cells = self._plain_rows([(b"", *cell) for cell in found], 0, columns, dates)[0]
            else:
                cells = [(0, self._general_cells(patterns.general, body, columns, dates))]
            if cells and cells[0][1]:
                rows.append((row_number, cells[0][1]))
        return rows, row_number

    def _value(self, kind: bytes, style: int, value: bytes, dates: dict[bytes, object]) -> object:
        """A cell's value (``<v>``) as Excel's type ``kind`` and number format ``style`` make it."""
        if kind == b"n":
            if style not in self._date_styles:
                return _number(value)
            cell = dates.get(value)
            if cell is None:
                if len(dates) >= 4096:
                    dates.clear()
                cell = dates[value] = self._from_excel(_number(value), self._epoch)
            return cell
        if kind == b"s":
            assert self._strings is not None
            return self._strings[int(value)]
        if kind == b"b":
            return value == b"1"
        if kind == b"d":
            return dt.datetime.fromisoformat(value.decode())
        return _text(value)  # "str" (a formula's text) and "e" (an error such as #N/A): the text Excel shows

    def _general_cells(
        self, pattern: re.Pattern[bytes], body: bytes, columns: dict[bytes, int], dates: dict[bytes, object]
    ) -> list[object]:
        """One row's cells, whatever forms they take, one match at a time."""
        cells: list[object] = []
        for match in pattern.finditer(body):
            group = match.lastindex
            letters, attributes = match[1], match[2]
            if letters is None:
                found = _REFERENCE.search(attributes)
                letters = found[1] if found else None
            column = len(cells) if letters is None else (columns.get(letters) or _column(columns, letters))
            kind_at = attributes.find(b' t="')
            kind = attributes[kind_at + 4 : attributes.index(b'"', kind_at + 4)] if kind_at >= 0 else b"n"
            value = match[3]
            cell: object = None
            if group == _CELL_TEXT:
                cell = _text(match[4])
            elif group == _CELL_OTHER:
                other = match[5]
                if kind == b"inlineStr":
                    cell = _text(b"".join(_TEXT_RUN.findall(_PHONETIC.sub(b"", other))))
                else:
                    found_value = _VALUE.search(other)
                    value = found_value[1] if found_value else None
            if value:
                style_at = attributes.find(b' s="')
                style = int(attributes[style_at + 4 : attributes.index(b'"', style_at + 4)]) if style_at >= 0 else 0
                cell = self._value(kind, style, value, dates)
            if column >= len(cells):
                cells.extend([None] * (column - len(cells) + 1))
            cells[column] = cell
        return cells

    def _read(self, stream: IO[bytes], size: int) -> bytes:
        try:
            return stream.read(size)
        except _STREAM_ERRORS as exc:  # the archive is damaged part-way through the sheet
            raise _not_a_workbook(self._path, exc) from None

    def records(self) -> Iterator[Record]:
        rows = self._rows_from_process() if self._reader_process else self._rows()
        for line, cells in rows:
            if line > self.header_line:
                yield Record(line, cells)

    def _rows_from_process(self) -> Iterator[tuple[int, list[object]]]:
        """The rows after the header, cut by a reader process (``serve_rows``) and read from its pipe.

        The process sends messages of rows, then one that says it is done (or the one-line error that stopped
        it). A pipe that ends before that means the process died: that is reported in one line too, never waited
        for. Stopping early (an error, an interrupt) stops the process.
        """
        with tempfile.TemporaryFile() as errors:
            self._process = process = subprocess.Popen(  # noqa: S603 - this interpreter, our module, a path
                self._reader_command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
            )
            assert process.stdout is not None
            pipe = process.stdout
            with contextlib.suppress(OSError):  # a smaller pipe only means less reading ahead
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
            try:
                while True:
                    message = _receive(pipe)
                    if message is None:
                        raise UploadFileError(self._reader_died(process, errors))
                    kind, position, payload = message
                    if kind == "rows":
                        self._position = position
                        yield from payload
                    elif kind == "error":
                        raise UploadFileError(payload)
                    else:
                        self._position = position
                        break
            finally:
                self._stop_process()

    def _reader_command(self) -> list[str]:
        return reader_command(self._path.resolve(), self.header_line, self._sheet)

    def _reader_died(self, process: subprocess.Popen[bytes], errors: IO[bytes]) -> str:
        """One line for a reader process that ended without a word: its exit and the last line it wrote."""
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # it closed the pipe but goes on: it is stopped, not waited for
            process.kill()
            code = process.wait()
        errors.seek(0)
        lines = errors.read().decode("utf-8", "replace").strip().splitlines()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = f": {lines[-1].strip()}" if lines else ""
        return f"{self.name}: the process reading the workbook {how} before the end of the sheet{last}"

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def position(self) -> int:
        return self._position

    def close(self) -> None:
        self._stop_process()
        if self._strings is not None:
            self._strings.close()
            self._strings = None
        self._zip.close()


# The reader process imports this module alone: the package's __init__ brings in the database side (SQLAlchemy,
# the models), 40 MB and half a second the process has no use for, so the package is entered without running it.
_READER_PROCESS = f"""
import sys, types
package = types.ModuleType("biller_server.domain.upload")
package.__path__ = [{os.path.dirname(os.path.abspath(__file__))!r}]
sys.modules[package.__name__] = package
from biller_server.domain.upload.xlsx import serve_rows
serve_rows()
"""


def reader_command(path: Path, header_line: int, sheet: str | None = None) -> list[str]:
    """The command that starts a reader process for ``path``'s rows after ``header_line`` (``serve_rows``)."""
    return [sys.executable, "-c", _READER_PROCESS, str(path), str(header_line), *([sheet] if sheet is not None else [])]


def serve_rows() -> None:
    """The reader process: ``python -c ... PATH HEADER_LINE [SHEET]``; rows after the header line, as messages
    on standard output (anything else the process prints goes to standard error).

    Interrupts are left to the parent, which stops this process when it stops reading.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    path, header_line = Path(sys.argv[1]), int(sys.argv[2])
    sheet = sys.argv[3] if len(sys.argv) > 3 else None
    with contextlib.suppress(BrokenPipeError):  # the parent stopped reading: nothing more to say
        try:
            _send_rows(out, path, header_line, sheet)
        except UploadFileError as exc:
            _send(out, ("error", 0, str(exc)))
        except Exception as exc:
            _send(out, ("error", 0, f"{path.name}: the workbook could not be read ({type(exc).__name__}: {exc})"))
        out.close()


def _send_rows(out: IO[bytes], path: Path, header_line: int, sheet: str | None) -> None:
    source = XlsxSource._rows_only(path, sheet)
    try:
        batch: list[tuple[int, list[object]]] = []
        for row in source._rows():
            if row[0] > header_line:
                batch.append(row)
                if len(batch) >= _ROWS_PER_MESSAGE:
                    _send(out, ("rows", source._position, batch))
                    batch = []
        _send(out, ("rows", source._position, batch))
        _send(out, ("end", source.size, None))
    finally:
        source.close()


def _send(out: IO[bytes], message: tuple[str, int, object]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_FRAME.pack(len(data)))
    out.write(data)


def _receive(pipe: IO[bytes]) -> tuple[str, int, object] | None:
    """The next message, or None if the pipe ended before a whole one came."""
    header = pipe.read(_FRAME.size)
    if len(header) < _FRAME.size:
        return None
    (size,) = _FRAME.unpack(header)
    data = pipe.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # noqa: S301 - our own reader process, on a pipe only it and we hold


def _not_a_workbook(path: Path, exc: BaseException) -> UploadFileError:
    kind = "zlib.error" if isinstance(exc, zlib.error) else type(exc).__name__
    return UploadFileError(
        f"{path.name} is not an Excel workbook (.xlsx) that can be read ({kind}): "
        "save it again from Excel as 'Excel Workbook (*.xlsx)'"
    )


def _sheet_cut_short(path: Path) -> UploadFileError:
    return UploadFileError(
        f"{path.name} is not an Excel workbook (.xlsx) that can be read (its sheet ends part-way through): "
        "save it again from Excel as 'Excel Workbook (*.xlsx)'"
    )


def _attributes(tag: bytes) -> dict[bytes, bytes]:
    return dict(_ATTRIBUTE.findall(tag))


def _column(cache: dict[bytes, int], letters: bytes) -> int:
    column = cache.get(letters)
    if column is None:
        column = 0
        for letter in letters:
            column = column * 26 + letter - 64
        column = cache[letters] = column - 1
    return column


class _Columns(dict[bytes, int]):
    """Column letters to index (``A`` is 0), worked out once per column."""

    def __missing__(self, letters: bytes) -> int:
        return _column(self, letters)


def _number(value: bytes) -> int | float:
    if b"." in value or b"E" in value or b"e" in value:
        return float(value)
    return int(value)


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    if "&" in text:
        text = html.unescape(text)
    if "_x" in text:
        text = _ESCAPED_CHARACTER.sub(lambda match: chr(int(match[1], 16)), text)
    return text


# The groups of the general cell pattern that say which alternative matched (match.lastindex).
_CELL_TEXT, _CELL_OTHER = 4, 5
_ROW_NUMBER = re.compile(rb'\br="([0-9]+)"')
_REFERENCE = re.compile(rb'\br="([A-Z]+)')


def _namespace_prefix(opening: bytes) -> bytes:
    """The namespace prefix the sheet's writer used (``x:`` from some .NET libraries, none from Excel)."""
    found = re.search(rb"<(\w+:)?worksheet\b", opening)
    return found[1] if found and found[1] else b""


class _Patterns:
    """The patterns and tags of one sheet, with its writer's namespace prefix."""

    def __init__(self, prefix: bytes) -> None:
        self.rows = _rows_pattern(prefix)
        self.plain = _plain_cells_pattern(prefix)
        # A row's start (its attributes) or a plain cell with its style before its type, as writers put them: a
        # whole read in sheet order, by one findall (a read with any other cell is cut row by row).
        self.plain_rows = re.compile(
            rb"<"
            + re.escape(prefix + b"row")
            + rb"\b([^>]*)>|"
            + _plain_cells_pattern(prefix, either_order=False).pattern
        )
        self.general = _cells_pattern(prefix)
        self.cell_tag, self.row_tag = b"<" + prefix + b"c", b"<" + prefix + b"row"
        self.row_end = b"</" + prefix + b"row>"
        # The end of the sheet's rows: ``</sheetData>``, or an empty ``<sheetData/>``.
        data = re.escape(prefix + b"sheetData")
        self.sheet_end = re.compile(rb"</" + data + rb"\s*>|<" + data + rb"\b[^>]*/>")


def _rows_pattern(prefix: bytes) -> re.Pattern[bytes]:
    """A row: its attributes, and its cells' XML (empty for ``<row/>``)."""
    row = re.escape(prefix + b"row")
    return re.compile(rb"<" + row + rb"(?=[\s/>])([^>]*?)(?:/>|>(.*?)</" + row + rb">)", re.S)


def _plain_cells_pattern(prefix: bytes, *, either_order: bool = True) -> re.Pattern[bytes]:
    """The cells as writers put values: the reference first, then a style and a type (in either order, or the
    style first), then a value or an inline text (or nothing). Groups: column letters, style, type, value, text."""
    c, v, t, is_ = (re.escape(prefix + name) for name in (b"c", b"v", b"t", b"is"))
    attributes = rb'(?: (?:s="([0-9]+)"|t="(\w+)")){0,2}' if either_order else rb'(?: s="([0-9]+)")?(?: t="(\w+)")?'
    return re.compile(
        rb"<" + c + rb' r="([A-Z]+)[0-9]*"' + attributes + rb"(?:\s*/>|>(?:<" + v + rb">([^<]*)</" + v + rb">"
        rb"|<" + is_ + rb"><" + t + rb"(?: [^>]*)?>([^<]+)</" + t + rb"></" + is_ + rb">)?</" + c + rb">)"
    )


def _cells_pattern(prefix: bytes) -> re.Pattern[bytes]:
    """Any cell. Its column comes from its reference when that is its first attribute, as every writer seen puts
    it; otherwise it is looked for among the attributes."""
    c, v, t, is_ = (re.escape(prefix + name) for name in (b"c", b"v", b"t", b"is"))
    return re.compile(
        rb"<" + c + rb'(?=[\s/>])(?: r="([A-Z]+)[0-9]*")?([^>]*?)(?:/>|>'  # 1, 2: a cell's column, other attributes
        rb"(?:<" + v + rb">([^<]*)</" + v + rb">"  # 3: its value,
        rb"|<" + is_ + rb"><" + t + rb"(?:\s[^>]*)?>([^<]*)</" + t + rb"></" + is_ + rb">"  # 4: its text,
        rb"|(.*?))</" + c + rb">)",  # 5: or anything else (a formula, runs of text)
        re.S,
    )


class _SharedStrings:
    """The workbook's table of distinct strings, in a temporary file: a million distinct bill ids would take
    about 100 MB as Python strings, and cells only ever need one at a time."""

    def __init__(self, file: IO[bytes] | None, offsets: array.array[int]) -> None:
        self._file = file
        self._offsets = offsets
        self._map: mmap.mmap | None = None
        if file is not None and offsets[-1] > 0:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)

    @classmethod
    def read(cls, archive: zipfile.ZipFile) -> _SharedStrings:
        offsets = array.array("q", [0])
        try:
            stream = archive.open("xl/sharedStrings.xml")
        except KeyError:
            return cls(None, offsets)
        file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close(), after the upload
        item = re.compile(rb"<(?:\w+:)?si\b[^>]*>(.*?)</(?:\w+:)?si>|<(?:\w+:)?si\s*/>", re.S)
        with stream:
            buffer = b""
            while True:
                chunk = stream.read(_CHUNK)
                buffer += chunk
                end = buffer.rfind(b"si>") if chunk else len(buffer)
                if end < 0:
                    continue
                if chunk:
                    end += 3
                for match in item.finditer(buffer, 0, end):
                    body = match[1] or b""
                    text = b"".join(_TEXT_RUN.findall(_PHONETIC.sub(b"", body)))
                    file.write(text)
                    offsets.append(offsets[-1] + len(text))
                buffer = buffer[end:]
                if not chunk:
                    break
        file.flush()
        return cls(file, offsets)

    def __getitem__(self, index: int) -> str:
        start, end = self._offsets[index], self._offsets[index + 1]
        return _text(self._map[start:end]) if self._map is not None else ""

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        if self._file is not None:
            self._file.close()
