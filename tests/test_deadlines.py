"""The fast extra's deadlines (``_io/deadlines.py``): one sweep for every attempt in flight.

Over a real socket (``tests/wire_support.py``): running out while waiting for a connection is
``ConnectTimeout`` (nothing sent), running out once connected is ``ReadTimeout``, and either
way the task is left uncancelled; a cancellation from elsewhere is never taken for a
deadline. asyncio only, as aiohttp is.
"""

from __future__ import annotations

import asyncio

import anyio
import httpx
import pytest

from laaffic_async._io.aiohttp import AiohttpTransport
from laaffic_async._io.deadlines import Deadlines

from .wire_support import RawServer, server

__all__ = ["server"]  # the fixture, imported

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


def _spec(pool: float, connect: float, total: float) -> dict[str, float | None]:
    return {"pool": pool, "connect": connect, "read": total, "write": 5.0, "total": total}


async def _post(transport: AiohttpTransport, url: str, spec: dict[str, float | None]) -> int:
    status, _, _ = await transport.exchange(
        "POST", url, content=b"{}", params=(), headers={"Api-Key": "k"}, timeout=spec
    )
    return status


async def test_waiting_for_a_connection_runs_out_as_connect_timeout(server: RawServer) -> None:
    transport = AiohttpTransport(max_connections=1)
    try:
        held: list[int] = []

        async def hold() -> None:
            held.append(await _post(transport, f"{server.url}/slow/1", _spec(5, 5, 5)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)
            await _until_received(server)
            with pytest.raises(httpx.ConnectTimeout, match=r"no connection within 0\.1"):
                await _post(transport, f"{server.url}/ok", _spec(0.05, 0.05, 5))
            assert held == []  # ended while the only connection was still held
            await anyio.sleep(0.01)  # the deadline's cancellation was taken back
        assert held == [200]
        # Only the first request ever reached the server; its connection was the only one.
        assert [h.split(b" ")[1] for h in server.heads] == [b"/slow/1"]
        assert server.accepted == 1
        assert len(transport._deadlines) == 0
    finally:
        await transport.aclose()


async def test_a_slow_answer_runs_out_as_read_timeout_and_the_next_call_works(
    server: RawServer,
) -> None:
    transport = AiohttpTransport(max_connections=1)
    try:
        with pytest.raises(httpx.ReadTimeout, match=r"no complete answer within 0\.2 s"):
            await _post(transport, f"{server.url}/slow/3", _spec(5, 5, 0.2))
        await anyio.sleep(0.01)  # not cancelled afterwards
        assert await _post(transport, f"{server.url}/ok", _spec(5, 5, 5)) == 200
        assert len(transport._deadlines) == 0
    finally:
        await transport.aclose()


async def test_a_cancel_scope_still_cancels_an_attempt_with_deadlines(server: RawServer) -> None:
    transport = AiohttpTransport(max_connections=1)
    try:
        with anyio.move_on_after(0.2) as scope:
            await _post(transport, f"{server.url}/slow/3", _spec(5, 5, 5))
        assert scope.cancelled_caught
        assert len(transport._deadlines) == 0
    finally:
        await transport.aclose()


async def test_an_outside_cancellation_is_never_taken_for_a_deadline() -> None:
    deadlines = Deadlines()
    seen: list[str | None] = []

    async def attempt() -> None:
        watch = deadlines.watch(0.0, None)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append(watch.expired())
            raise
        finally:
            deadlines.forget(watch)

    # The sweep alone: the deadline is reported and the cancellation taken back.
    alone = asyncio.ensure_future(attempt())
    await asyncio.sleep(0)
    deadlines._sweep()
    with pytest.raises(asyncio.CancelledError):
        await alone
    assert seen == ["connect"]
    assert alone.cancelling() == 0

    # The sweep and an outside cancel in the same pass: the outside one wins.
    both = asyncio.ensure_future(attempt())
    await asyncio.sleep(0)
    both.cancel()
    deadlines._sweep()
    with pytest.raises(asyncio.CancelledError):
        await both
    assert seen == ["connect", None]
    assert both.cancelling() == 1
    deadlines.close()


async def test_the_answer_deadline_starts_when_connected() -> None:
    deadlines = Deadlines()
    watch = deadlines.watch(None, 2.0)
    assert (watch.phase, watch.deadline) == ("connect", None)
    watch.connected(deadlines.now())
    assert watch.phase == "answer"
    assert watch.deadline is not None
    assert watch.deadline - deadlines.now() == pytest.approx(2.0, 0.1)
    deadlines.forget(watch)
    assert len(deadlines) == 0
    deadlines.close()


async def _until_received(server: RawServer) -> None:
    for _ in range(500):
        if server.received.is_set():
            return
        await anyio.sleep(0.01)
    raise AssertionError("the first request never reached the server")
