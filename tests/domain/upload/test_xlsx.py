"""Reading a workbook's cells as Excel holds them, whichever way its writer put them in the sheet's XML."""

import datetime as dt
import re
import zipfile
from pathlib import Path

from openpyxl import Workbook

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
