"""Reading a workbook's cells as Excel holds them, whichever way its writer put them in the sheet's XML."""

import datetime as dt
import re
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from biller_server.domain.upload.source import UploadFileError
from biller_server.domain.upload.xlsx import XlsxSource

HEADER = ["Customer ID", "Amount", "Due Date", "Active", "Note"]


def workbook(path: Path) -> Path:
    """Inline strings, a number, a date style, a boolean, and a formula that has no value saved with it."""
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["CUST1", 2450.5, dt.date(2026, 12, 10), True, "=1+1"])
    sheet.append(["CUST2 & Co", 1800, dt.date(2027, 1, 10), False, None])
    book.save(path)
    return path


def rewritten(path: Path, change, strings: bytes | None = None) -> Path:
    """The same workbook with its sheet's XML changed by ``change`` (and a table of shared strings)."""
    target = path.with_name("rewritten.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = change(data)
            out.writestr(item, data)
        if strings is not None:
            out.writestr("xl/sharedStrings.xml", strings)
    return target


def rows(path: Path) -> list[tuple[int, list[object]]]:
    source = XlsxSource(path)
    try:
        return [(record.line, record.cells) for record in source.records()]
    finally:
        source.close()


EXPECTED = [
    (2, ["CUST1", 2450.5, dt.datetime(2026, 12, 10), True, None]),
    (3, ["CUST2 & Co", 1800, dt.datetime(2027, 1, 10), False]),
]


def test_text_numbers_dates_booleans_and_formulas_read_as_excel_holds_them(tmp_path):
    assert rows(workbook(tmp_path / "book.xlsx")) == EXPECTED


def test_a_namespace_prefix_and_attributes_in_another_order_read_the_same(tmp_path):
    def prefixed(xml: bytes) -> bytes:
        xml = re.sub(rb"<(/?)(worksheet|sheetData|row|c|v|f|is|t)\b", rb"<\1x:\2", xml)
        xml = xml.replace(b'xmlns="', b'xmlns:x="')
        # The type before the style, and a cell that gives no reference at all (it follows the one before it).
        xml = re.sub(rb'<x:c r="([A-Z]+[0-9]+)" s="([0-9]+)" t="(\w+)"', rb'<x:c r="\1" t="\3" s="\2"', xml)
        return xml.replace(b'<x:c r="B2"', b"<x:c")

    assert rows(rewritten(workbook(tmp_path / "book.xlsx"), prefixed)) == EXPECTED


RUN_ST1 = b"<r><t>ST1</t></r></is></c>"


def test_rich_text_and_cached_formula_values_are_read_as_their_text(tmp_path):
    def rich(xml: bytes) -> bytes:
        xml = re.sub(
            rb'<c r="A2"[^>]*>.*?</c>',
            b'<c r="A2" t="inlineStr"><is><r><rPr><color rgb="FFFF0000"/></rPr><t>CU</t></r>' + RUN_ST1,
            xml,
        )
        return re.sub(rb'<c r="E2"[^>]*>.*?</c>', b'<c r="E2" t="str"><f>"=1+1"</f><v>=1+1</v></c>', xml)

    assert rows(rewritten(workbook(tmp_path / "book.xlsx"), rich)) == [
        (2, ["CUST1", 2450.5, dt.datetime(2026, 12, 10), True, "=1+1"]),
        EXPECTED[1],
    ]


def test_shared_strings_as_excel_saves_them_are_read_with_their_runs_and_without_phonetic_guides(tmp_path):
    """Excel keeps each distinct text once, in xl/sharedStrings.xml, and cells point to it (t="s")."""

    def shared(xml: bytes) -> bytes:
        xml = xml.replace(b'<c r="A2" t="inlineStr"><is><t>CUST1</t></is></c>', b'<c r="A2" t="s"><v>0</v></c>')
        return xml.replace(
            b'<c r="A3" t="inlineStr"><is><t>CUST2 &amp; Co</t></is></c>', b'<c r="A3" s="0" t="s"><v>1</v></c>'
        )

    strings = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2">'
        b'<si><r><rPr><b/></rPr><t>CU</t></r><r><t>ST1</t></r><rPh sb="0" eb="1"><t>x</t></rPh></si>'
        b"<si><t>CUST2 &amp; Co</t></si></sst>"
    )

    assert rows(rewritten(workbook(tmp_path / "book.xlsx"), shared, strings)) == EXPECTED


# -- A large sheet is cut into rows by a second process (READER_PROCESS_BYTES) -------------------------------------


def many_rows(path: Path, count: int) -> Path:
    """``count`` rows after the header, in openpyxl's write-only form (inline strings), as the benchmark's are."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Demand")
    sheet.append(HEADER)
    for number in range(count):
        sheet.append([f"CUST{number}", number + 0.5, dt.date(2026, 12, 10), number % 2 == 0, None])
    book.save(path)
    return path


def read(path: Path, *, reader_process: bool, sheet: str | None = None) -> list[tuple[int, list[object]]]:
    source = XlsxSource(path, sheet=sheet, reader_process=reader_process)
    try:
        return [(record.line, record.cells) for record in source.records()]
    finally:
        source.close()


def test_the_reader_process_gives_the_cells_this_process_would(tmp_path):
    path = many_rows(tmp_path / "book.xlsx", 2500)  # several of the process's messages

    in_process = read(path, reader_process=False)

    assert read(path, reader_process=True) == in_process
    assert in_process[0] == (2, ["CUST0", 0.5, dt.datetime(2026, 12, 10), True])
    assert in_process[-1][0] == 2501


def test_the_reader_process_reads_excels_own_types_and_prefixes(tmp_path):
    def prefixed(xml: bytes) -> bytes:
        xml = re.sub(rb"<(/?)(worksheet|sheetData|row|c|v|f|is|t)\b", rb"<\1x:\2", xml)
        return xml.replace(b'xmlns="', b'xmlns:x="')

    assert read(rewritten(workbook(tmp_path / "book.xlsx"), prefixed), reader_process=True) == EXPECTED


def test_the_reader_process_reads_the_sheet_named(tmp_path):
    book = Workbook()
    book.active.append(["ignored"])
    other = book.create_sheet("Dec & Jan")
    other.append(HEADER)
    other.append(["CUST9", 10, None, None, "x"])
    book.save(tmp_path / "book.xlsx")

    assert read(tmp_path / "book.xlsx", sheet="Dec & Jan", reader_process=True) == [(2, ["CUST9", 10, None, None, "x"])]


def damaged(path: Path) -> Path:
    """The workbook with bytes of its sheet changed half-way through: the archive opens, the sheet does not
    read to its end (the sheet is stored uncompressed, so the damage is found by its checksum, at the end)."""
    stored = path.with_name("stored.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as out:
        for item in source.infolist():
            out.writestr(item.filename, source.read(item.filename))
    data = bytearray(stored.read_bytes())
    with zipfile.ZipFile(stored) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    middle = sheet.header_offset + 30 + len(sheet.filename) + sheet.compress_size // 2
    data[middle : middle + 4] = b"ABCD" if data[middle : middle + 4] != b"ABCD" else b"WXYZ"
    target = path.with_name("damaged.xlsx")
    target.write_bytes(bytes(data))
    return target


def sheet_cut_short(path: Path) -> Path:
    """The workbook rewritten with its sheet's XML stopped in the middle of its last row's cells: the archive is
    intact (checksums right), only the sheet's text ends early, as a writer that died would leave it."""
    target = path.with_name("cut.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                last_row = data.rindex(b"<row")
                data = data[: data.index(b"</c>", last_row) + len(b"</c>")]
            out.writestr(item.filename, data)
    return target


@pytest.mark.parametrize(
    ("spoil", "why"),
    [(damaged, "BadZipFile"), (sheet_cut_short, "its sheet ends part-way through")],
    ids=["bytes changed", "sheet stops in a row"],
)
@pytest.mark.parametrize("reader_process", [False, True], ids=["this process", "reader process"])
def test_a_workbook_damaged_part_way_through_its_sheet_is_refused_in_one_line(tmp_path, reader_process, spoil, why):
    # Many reads of the sheet long: its header is read before the damage is reached.
    spoiled = spoil(many_rows(tmp_path / "book.xlsx", 10_000))
    source = XlsxSource(spoiled, reader_process=reader_process)
    try:
        with pytest.raises(UploadFileError) as refused:
            list(source.records())
    finally:
        source.close()

    assert str(refused.value) == (
        f"{spoiled.name} is not an Excel workbook (.xlsx) that can be read ({why}): "
        "save it again from Excel as 'Excel Workbook (*.xlsx)'"
    )


@pytest.mark.parametrize("reader_process", [False, True], ids=["this process", "reader process"])
def test_a_workbook_cut_short_is_refused_in_one_line_when_opened(tmp_path, reader_process):
    path = many_rows(tmp_path / "book.xlsx", 3000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(UploadFileError, match=r"^book\.xlsx is not an Excel workbook \(\.xlsx\) that can be read"):
        XlsxSource(path, reader_process=reader_process)


def reader_that_dies(after_rows: int) -> str:
    """A reader process that sends ``after_rows`` rows, says why on standard error, and is killed."""
    return (
        "import os, signal, sys\n"
        "from biller_server.domain.upload import xlsx\n"
        "out = os.fdopen(1, 'wb')\n"
        f"xlsx._send(out, ('rows', 10, [(line, ['CUST', 1]) for line in range(2, {after_rows + 2})]))\n"
        "out.write(b'\\x40\\x00')\n"  # half of the next message's length
        "out.flush()\n"
        "sys.stderr.write('MemoryError: out of memory\\n')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )


def test_a_reader_process_that_dies_is_reported_in_one_line_after_the_rows_it_sent(tmp_path, monkeypatch):
    monkeypatch.setattr(XlsxSource, "_reader_command", lambda self: [sys.executable, "-c", reader_that_dies(3)])
    source = XlsxSource(workbook(tmp_path / "book.xlsx"), reader_process=True)
    lines = []
    try:
        with pytest.raises(UploadFileError) as refused:
            lines.extend(record.line for record in source.records())
    finally:
        source.close()

    assert lines == [2, 3, 4]
    assert str(refused.value) == (
        "book.xlsx: the process reading the workbook was killed by signal 9 before the end of the sheet: "
        "MemoryError: out of memory"
    )


def test_the_reader_process_reads_shared_strings_with_their_runs(tmp_path):
    def shared(xml: bytes) -> bytes:
        return xml.replace(b'<c r="A2" t="inlineStr"><is><t>CUST1</t></is></c>', b'<c r="A2" t="s"><v>0</v></c>')

    strings = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        b"<si><r><rPr><b/></rPr><t>CU</t></r><r><t>ST1</t></r></si></sst>"
    )

    assert read(rewritten(workbook(tmp_path / "book.xlsx"), shared, strings), reader_process=True) == EXPECTED


def test_closing_before_the_end_of_the_sheet_stops_the_reader_process(tmp_path):
    source = XlsxSource(many_rows(tmp_path / "book.xlsx", 5000), reader_process=True)
    records = source.records()
    first = next(records)
    process = source._process

    source.close()

    assert first.line == 2
    assert process is not None and process.returncode is not None  # stopped and waited for, not left running
    records.close()
