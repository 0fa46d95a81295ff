"""Helpers shared by the call-center test modules (not a test module itself)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl

from laaffic_async import AsyncClient, RetryPolicy
from laaffic_async._core.requests import ApiRequest, dump_json
from laaffic_async.testing import Sandbox, SandboxTransport

KEY, SECRET, APP = "bDqJFiq9", "7bz1lzh9", "4luaKsL2"
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01)
#: Four numbers, one of them twice.
NUMBERS = ["932111111111", "932111111112", "932111111113", "932111111111"]


def xlsx(numbers: list[Any], header: bool = True) -> bytes:
    """A real workbook as a user's spreadsheet program would write it."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    if header:
        sheet.append(["callee"])
    for number in numbers:
        sheet.append([number])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_numbers(directory: Path, name: str = "numbers.xlsx") -> Path:
    """:data:`NUMBERS` (after a header row) as a workbook file in ``directory``."""
    path = directory / name
    path.write_bytes(xlsx(NUMBERS))
    return path


def make_client(sandbox: Sandbox, **kwargs: Any) -> AsyncClient:
    options: dict[str, Any] = {"app_id": APP, "base_url": "http://sandbox/v3", "retry": FAST_RETRY}
    options.update(kwargs)
    return AsyncClient(KEY, SECRET, transport=SandboxTransport(sandbox), **options)


async def new_group(client: AsyncClient, name: str = "support-1") -> int:
    await client.call_center.add_group(name)
    page = await client.call_center.group_page(group_name=name)
    assert [g.group_name for g in page.records] == [name]
    return page.records[0].voice_group_id


def sent(sandbox: Sandbox) -> int:
    return sum(sandbox.state.requests.values())


async def raw(client: AsyncClient, endpoint: str, body: dict[str, Any]) -> Any:
    """Send a body the client's own validation would refuse, to test the sandbox's rules."""
    return await client.request(ApiRequest("POST", endpoint, dump_json(body)))
