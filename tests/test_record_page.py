"""record_page: one raw recordSipQuery request, its rules and its retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from laaffic_async import AsyncClient, RetryPolicy, TimeRangeError, TransportError
from laaffic_async.testing import Faults, Sandbox, SandboxTransport

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01)


def make_client(sandbox: Sandbox) -> AsyncClient:
    return AsyncClient(
        "bDqJFiq9",
        "7bz1lzh9",
        app_id="4luaKsL2",
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
        retry=FAST_RETRY,
    )


async def test_page_of_placed_calls(sandbox: Sandbox) -> None:
    now = datetime.now(UTC)
    async with make_client(sandbox) as client:
        placed = [await client.send_sip(f"93211111111{i}", account=f"a{i}") for i in range(5)]
        page = await client.record_page(now - timedelta(hours=1), now + timedelta(hours=1), size=2)
    assert (page.total, page.pages, page.current, page.size) == (5, 3, 1, 2)
    assert [r.voice_id for r in page.records] == [p.voice_id for p in placed[::-1][:2]]
    record = page.records[0]
    assert record.callee == "932111111114"
    assert record.submit_time.tzinfo is not None
    assert record.cost is not None


async def test_window_over_31_days_is_time_range_error(sandbox: Sandbox) -> None:
    now = datetime.now(UTC)
    async with make_client(sandbox) as client:
        with pytest.raises(TimeRangeError) as info:
            await client.record_page(now - timedelta(days=32), now)
    assert info.value.status == "-25"


async def test_5xx_and_drops_are_retried_for_queries(sandbox: Sandbox) -> None:
    now = datetime.now(UTC)
    sandbox.faults = Faults(error_rate=1.0, drop_before_rate=1.0, limit=3, seed=1)
    async with make_client(sandbox) as client:
        page = await client.record_page(now - timedelta(days=1), now)
    assert page.total == 0
    assert sandbox.state.requests["voice/recordSipQuery"] == 4


async def test_queries_give_up_after_the_policy(sandbox: Sandbox) -> None:
    now = datetime.now(UTC)
    sandbox.faults = Faults(drop_before_rate=1.0)
    async with make_client(sandbox) as client:
        with pytest.raises(TransportError):
            await client.record_page(now - timedelta(days=1), now)
    assert sandbox.state.requests["voice/recordSipQuery"] == FAST_RETRY.attempts
