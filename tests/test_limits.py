"""Shared limits: the concurrency cap and the token bucket, alone and inside AsyncClient."""

from __future__ import annotations

import anyio
import httpx
import pytest

from laaffic_async import AsyncClient, Call, RequestValidationError
from laaffic_async._dialing.limits import ConcurrencyLimit, DialLimits, RateLimiter
from laaffic_async.testing import Faults, Sandbox, SandboxTransport

pytestmark = pytest.mark.anyio

KEY, SECRET, APP = "bDqJFiq9", "7bz1lzh9", "4luaKsL2"


async def test_concurrency_limit_caps_and_reaches_total() -> None:
    limit = ConcurrencyLimit(3)
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with limit:
            inside += 1
            most = max(most, inside)
            await anyio.sleep(0.01)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(12):
            tg.start_soon(hold)
    assert most == 3
    assert limit.peak == 3
    assert limit.in_use == 0


async def test_rate_limiter_spaces_acquisitions() -> None:
    limiter = RateLimiter(50.0)
    stamps: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        stamps.append(anyio.current_time())

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(11):
            tg.start_soon(take)
    # The first goes at once, each next one 20 ms later: a limiter may run late, never early.
    assert max(stamps) - start >= 10 / 50.0 - 1e-6


async def test_rate_limiter_burst_lets_a_few_through_at_once() -> None:
    limiter = RateLimiter(1.0, burst=3)
    for _ in range(3):
        await limiter.acquire()
    # Three went without sleeping: the next free slot is at most one interval away.
    assert limiter._next <= anyio.current_time() + 1.0
    plain = RateLimiter(1.0)
    await plain.acquire()
    assert plain._next > anyio.current_time() + 0.5


async def test_cancelled_waiter_gives_its_slot_back() -> None:
    limiter = RateLimiter(2.0)
    await limiter.acquire()
    booked = limiter._next
    with anyio.move_on_after(0.01):
        await limiter.acquire()  # would wait 0.5 s; cancelled
    # Had the slot been kept, the next caller would wait a full second.
    assert limiter._next == booked


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_concurrency_is_refused(bad: object) -> None:
    with pytest.raises(RequestValidationError) as info:
        ConcurrencyLimit(bad)  # type: ignore[arg-type]
    assert info.value.field == "concurrency"


@pytest.mark.parametrize("bad", [0, -2.0, float("inf"), float("nan"), False, "20"])
def test_bad_rate_is_refused(bad: object) -> None:
    with pytest.raises(RequestValidationError) as info:
        RateLimiter(bad)  # type: ignore[arg-type]
    assert info.value.field == "calls_per_second"


def test_dial_limits_without_limits_are_inactive() -> None:
    assert not DialLimits().active
    assert DialLimits(concurrency=2).active
    assert DialLimits(calls_per_second=2).active


async def test_client_limits_are_shared_by_send_sip_from_many_tasks() -> None:
    sandbox = Sandbox(faults=Faults(latency=0.02))
    async with AsyncClient(
        KEY,
        SECRET,
        app_id=APP,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
        concurrency=4,
    ) as client:

        async def one(i: int) -> None:
            await client.send_sip(f"9321{i:08d}", account=f"a{i}")

        async with anyio.create_task_group() as tg:
            for i in range(24):
                tg.start_soon(one, i)
        assert client.limits.concurrency is not None
        assert client.limits.concurrency.peak == 4
    assert sandbox.state.peak_in_flight == 4
    assert sandbox.state.dials == 24


async def test_client_rate_limit_applies_to_send_sip() -> None:
    sandbox = Sandbox()
    arrivals: list[float] = []

    class Stamping(SandboxTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            arrivals.append(anyio.current_time())
            return await super().handle_async_request(request)

    start = anyio.current_time()
    async with AsyncClient(
        KEY,
        SECRET,
        app_id=APP,
        base_url="http://sandbox/v3",
        transport=Stamping(sandbox),
        calls_per_second=40.0,
    ) as client:

        async def one(i: int) -> None:
            await client.send_sip(f"9321{i:08d}", account=f"a{i}")

        async with anyio.create_task_group() as tg:
            for i in range(9):
                tg.start_soon(one, i)
    assert sandbox.state.dials == 9
    # Eight intervals of 25 ms after the first: the limiter may be late, never early.
    assert max(arrivals) - start >= 8 / 40.0 - 1e-6


def test_client_concurrency_grows_the_pool() -> None:
    client = AsyncClient(KEY, SECRET, app_id=APP, concurrency=250)
    assert client.max_connections == 250
    small = AsyncClient(KEY, SECRET, app_id=APP, concurrency=5)
    assert small.max_connections == 100


def test_client_refuses_a_bad_concurrency() -> None:
    with pytest.raises(RequestValidationError) as info:
        AsyncClient(KEY, SECRET, app_id=APP, concurrency=0)
    assert info.value.field == "concurrency"
    with pytest.raises(RequestValidationError) as info:
        AsyncClient(KEY, SECRET, app_id=APP, calls_per_second=-1)
    assert info.value.field == "calls_per_second"


async def test_client_limits_also_cap_send_many() -> None:
    # A batch asks for 20 in flight; the client-wide cap of 5 wins, shared with send_sip.
    sandbox = Sandbox(faults=Faults(latency=0.02))
    async with AsyncClient(
        KEY,
        SECRET,
        app_id=APP,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
        concurrency=5,
    ) as client:
        calls = (Call(f"9321{i:08d}", f"a{i}") for i in range(60))
        outcomes = [o async for o in client.send_many(calls, concurrency=20)]
    assert all(o.ok for o in outcomes)
    assert sandbox.state.peak_in_flight == 5
