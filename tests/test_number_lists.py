"""client.call_center.upload_numbers against the sandbox: sources, validation and every refusal."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from laaffic_async import (
    AsyncClient,
    FileFormatError,
    FileTooLargeError,
    InvalidParameterError,
    RequestValidationError,
    TooManyRowsError,
)
from laaffic_async.testing import Faults, Sandbox
from laaffic_async.testing._sheets import XLS_BYTES_PER_ROW, XLS_MAGIC, XLS_OVERHEAD
from tests.callcenter_support import NUMBERS, make_client, raw, sent, write_numbers, xlsx

pytestmark = pytest.mark.anyio


@pytest.fixture
def numbers_file(tmp_path: Path) -> Path:
    return write_numbers(tmp_path)


@pytest.fixture(scope="module")
def too_long_list() -> bytes:
    """100,001 numbers: one row past the platform's limit (hand-rolled, openpyxl is slow)."""
    rows = "".join(
        f'<row r="{i}"><c r="A{i}"><v>{932100000000 + i}</v></c></row>' for i in range(1, 100_002)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
        '"http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{rows}</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


# -- number lists ------------------------------------------------------------------------------


async def test_upload_from_a_path(
    client: AsyncClient, sandbox: Sandbox, numbers_file: Path
) -> None:
    uploaded = await client.call_center.upload_numbers(numbers_file)
    assert (uploaded.number_total_count, uploaded.number_same_count) == (4, 1)
    assert uploaded.file_path.endswith("_numbers.xlsx")
    assert sandbox.state.call_center.uploads[uploaded.file_path]["fileName"] == "numbers.xlsx"
    as_text = await client.call_center.upload_numbers(str(numbers_file), "other-name.xlsx")
    assert as_text.file_path.endswith("_other-name.xlsx")


async def test_upload_from_bytes_and_file_objects(
    client: AsyncClient, sandbox: Sandbox, numbers_file: Path
) -> None:
    data = xlsx(NUMBERS)
    from_bytes = await client.call_center.upload_numbers(data, "numbers.xlsx")
    from_view = await client.call_center.upload_numbers(memoryview(data), "numbers.xlsx")
    with numbers_file.open("rb") as handle:
        from_handle = await client.call_center.upload_numbers(handle)
    stream = io.BytesIO(b"junk" + data)
    stream.seek(4)  # read from the current position, as file objects are
    from_stream = await client.call_center.upload_numbers(stream, "numbers.xlsx")
    counts = {
        (u.number_total_count, u.number_same_count)
        for u in (from_bytes, from_view, from_handle, from_stream)
    }
    assert counts == {(4, 1)}
    assert len(sandbox.state.call_center.uploads) == 4


async def test_unseekable_file_object_is_read_to_its_end(
    client: AsyncClient, numbers_file: Path
) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self._data.read(min(len(buffer), 1000))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    uploaded = await client.call_center.upload_numbers(
        io.BufferedReader(Pipe(xlsx(NUMBERS))), "numbers.xlsx"
    )
    assert uploaded.number_total_count == 4


async def test_upload_name_checked_before_reading_or_sending(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    cc = client.call_center
    cases: list[tuple[Any, str | None]] = [
        (tmp_path / "missing.csv", None),  # refused by name: the file is never opened
        (tmp_path / "a.xlsx", "abc"),
        (tmp_path / ("y" * 40 + ".xlsx"), None),
        (b"PK\x03\x04", None),
        (io.BytesIO(b"PK\x03\x04"), None),
        (b"PK\x03\x04", "x" * 30 + ".xlsx"),
    ]
    for file, name in cases:
        with pytest.raises(RequestValidationError) as info:
            await cc.upload_numbers(file, name)
        assert info.value.field == "fileName", (file, name)
    with pytest.raises(RequestValidationError, match="file"):
        await cc.upload_numbers(12345, "numbers.xlsx")  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError, match="empty"):
        await cc.upload_numbers(b"", "numbers.xlsx")
    assert sent(sandbox) == 0


async def test_text_mode_file_is_refused(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "numbers.xlsx"
    path.write_text("932111111111\n")
    with path.open() as handle, pytest.raises(RequestValidationError, match="binary"):
        await client.call_center.upload_numbers(handle)  # type: ignore[arg-type]
    assert sent(sandbox) == 0


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"932111111111\n932111111112\n", "numbers.xlsx"),  # a CSV under an xlsx name
        (b"PK\x03\x04 but not really a zip", "numbers.xlsx"),
        (XLS_MAGIC + b"\0" * 100, "numbers.xlsx"),  # an xls under an xlsx name
        (b"PK\x03\x04", "numbers.xls"),  # an xlsx under an xls name
    ],
)
async def test_bad_file_is_file_format_error(
    client: AsyncClient, sandbox: Sandbox, data: bytes, name: str
) -> None:
    with pytest.raises(FileFormatError) as info:
        await client.call_center.upload_numbers(data, name)
    assert info.value.status == "-39"
    assert sandbox.state.call_center.uploads == {}


async def test_workbook_without_a_sheet_is_file_format_error(client: AsyncClient) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("docProps/app.xml", "<x/>")
    with pytest.raises(FileFormatError):
        await client.call_center.upload_numbers(out.getvalue(), "numbers.xlsx")


async def test_sandbox_refuses_bad_base64_and_bad_names(client: AsyncClient) -> None:
    with pytest.raises(FileFormatError):
        await raw(client, "cc/preview/upload", {"fileName": "numbers.xlsx", "file": "not base64!"})
    with pytest.raises(FileFormatError):
        await raw(client, "cc/preview/upload", {"fileName": "numbers.csv", "file": "UEsDBA=="})
    with pytest.raises(InvalidParameterError):
        await raw(client, "cc/preview/upload", {"fileName": ".xls", "file": "UEsDBA=="})
    with pytest.raises(InvalidParameterError):
        await raw(client, "cc/preview/upload", {"fileName": "numbers.xlsx"})


async def test_too_large_file_is_file_too_large(client: AsyncClient, sandbox: Sandbox) -> None:
    data = xlsx(NUMBERS)
    sandbox.state.call_center.max_upload_bytes = len(data) - 1
    with pytest.raises(FileTooLargeError) as info:
        await client.call_center.upload_numbers(data, "numbers.xlsx")
    assert info.value.status == "-38"
    sandbox.state.call_center.max_upload_bytes = len(data)
    await client.call_center.upload_numbers(data, "numbers.xlsx")


async def test_row_limit_is_too_many_rows(client: AsyncClient, sandbox: Sandbox) -> None:
    sandbox.state.call_center.max_rows = 5
    ok = await client.call_center.upload_numbers(xlsx(NUMBERS), "numbers.xlsx")  # 5 rows
    assert ok.number_total_count == 4
    with pytest.raises(TooManyRowsError) as info:
        await client.call_center.upload_numbers(xlsx([*NUMBERS, "932111111119"]), "numbers.xlsx")
    assert info.value.status == "-40"


async def test_platform_row_limit(client: AsyncClient, too_long_list: bytes) -> None:
    with pytest.raises(TooManyRowsError):
        await client.call_center.upload_numbers(too_long_list, "numbers.xlsx")


async def test_xls_rows_are_estimated(client: AsyncClient, sandbox: Sandbox) -> None:
    ten_rows = XLS_MAGIC + b"\0" * (XLS_OVERHEAD + 10 * XLS_BYTES_PER_ROW - len(XLS_MAGIC))
    uploaded = await client.call_center.upload_numbers(ten_rows, "Template_voice_numFiles_cn.xls")
    assert (uploaded.number_total_count, uploaded.number_same_count) == (10, 0)
    sandbox.state.call_center.max_rows = 9
    with pytest.raises(TooManyRowsError):
        await client.call_center.upload_numbers(ten_rows, "Template_voice_numFiles_cn.xls")


async def test_upload_is_retried_after_a_server_error(sandbox: Sandbox, numbers_file: Path) -> None:
    sandbox.faults = Faults(error_rate=1.0, limit=2, endpoints=frozenset({"cc/preview/upload"}))
    async with make_client(sandbox) as client:
        uploaded = await client.call_center.upload_numbers(numbers_file)
    assert uploaded.number_total_count == 4
    assert sandbox.state.requests["cc/preview/upload"] == 3
