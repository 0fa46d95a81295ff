"""The sandbox's number-list reader: standard library only, judged like the platform."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from laaffic_async.testing._sheets import (
    XLS_BYTES_PER_ROW,
    XLS_MAGIC,
    XLS_OVERHEAD,
    NumberList,
    SheetFormatError,
    SheetTooLongError,
    read_number_list,
)

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def workbook(cells: list[str], shared: list[str] | None = None) -> bytes:
    """A minimal xlsx whose first column holds ``cells`` (raw ``<c>`` element XML)."""
    rows = "".join(f'<row r="{i}">{cell}</row>' for i, cell in enumerate(cells, 1))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            f'<worksheet xmlns="{NS}"><sheetData>{rows}</sheetData></worksheet>',
        )
        archive.writestr("xl/worksheets/sheet2.xml", f'<worksheet xmlns="{NS}"/>')
        if shared is not None:
            items = "".join(f"<si><t>{text}</t></si>" for text in shared)
            archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{NS}">{items}</sst>')
    return out.getvalue()


def test_cell_spellings() -> None:
    data = workbook(
        [
            '<c t="s"><v>0</v></c>',  # the header, a shared string
            '<c t="s"><v>1</v></c>',  # a number kept as a shared string
            '<c t="inlineStr"><is><t>932111111112</t></is></c>',
            "<c><v>9.32111111113E11</v></c>",  # Excel's float spelling
            '<c t="n"><v>932111111111</v></c>',  # a duplicate of the shared one
            '<c t="str"><v>+932111111114</v></c>',
            "<c><v>12</v></c>",  # too short to be a number
            "",  # an empty row
        ],
        shared=["callee", "932111111111"],
    )
    assert read_number_list("numbers.xlsx", data, 100) == NumberList(8, 5, 1)


def test_rows_bound_is_inclusive() -> None:
    data = workbook(["<c><v>932111111111</v></c>"] * 10)
    assert read_number_list("numbers.XLSX", data, 10).rows == 10
    with pytest.raises(SheetTooLongError):
        read_number_list("numbers.xlsx", data, 9)


def test_an_openpyxl_workbook() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["callee"], [932111111111], ["932111111112"], [932111111111]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    assert read_number_list("numbers.xlsx", out.getvalue(), 100_000) == NumberList(4, 3, 1)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("numbers.xlsx", b"PK\x03\x04garbage"),
        ("numbers.xlsx", XLS_MAGIC),
        ("numbers.xls", b"PK\x03\x04"),
        ("numbers.csv", b"932111111111"),
        ("numbers.xlsx", workbook(['<c t="s"><v>3</v></c>'], shared=["x"])),
    ],
)
def test_unreadable_lists(name: str, data: bytes) -> None:
    with pytest.raises(SheetFormatError):
        read_number_list(name, data, 100)


def test_broken_sheet_xml_is_a_format_error() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData><row>")
    with pytest.raises(SheetFormatError):
        read_number_list("numbers.xlsx", out.getvalue(), 100)


def test_xls_rows_are_estimated_from_the_size() -> None:
    size = XLS_OVERHEAD + 7 * XLS_BYTES_PER_ROW + XLS_BYTES_PER_ROW - 1
    data = XLS_MAGIC + b"\0" * (size - len(XLS_MAGIC))
    assert read_number_list("numbers.xls", data, 7) == NumberList(7, 7, 0)
    with pytest.raises(SheetTooLongError):
        read_number_list("numbers.xls", data + b"\0", 7)
    assert read_number_list("numbers.xls", XLS_MAGIC, 7).rows == 0
