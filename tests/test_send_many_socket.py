"""AsyncClient.send_many over a real socket (the sandbox served by uvicorn), on both backends.

Where a socket matters: the connection pool must carry ``concurrency``
requests at once, a dropped connection must become an unknown outcome,
and stopping a batch early must leave no connection open or in use.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from laaffic_async import BatchProgress, CallOutcome, OutcomeUnknownError, RequestValidationError
from laaffic_async.testing import Faults, Sandbox, serve_in_thread

from .batch_support import (
    assert_exactly_once,
    calls,
    client_sockets,
    finalized,
    pool_in_use,
    socket_client,
)

pytestmark = pytest.mark.anyio


async def test_5000_calls_500_accounts_over_a_socket(sandbox: Sandbox, sandbox_url: str) -> None:
    progress = BatchProgress()
    async with socket_client(sandbox_url) as client:
        batch = client.send_many(calls(5000, 500), concurrency=100, progress=progress)
        outcomes = [o async for o in batch]
        assert pool_in_use(client) == 0
    assert_exactly_once(sandbox, outcomes, 5000)
    assert sandbox.state.peak_in_flight <= 100
    assert progress.peak_in_flight <= 100
    assert (progress.placed, progress.failed, progress.unknown) == (5000, 0, 0)
    assert client_sockets(sandbox_url) == 0


class HoldUntil:
    """ASGI wrapper: holds requests until ``target`` are in flight at once (or 10 s pass).

    It makes "the server saw N requests in flight" independent of how fast a
    loaded machine dispatches them, and counts the peak itself.
    """

    def __init__(self, app: Sandbox, target: int) -> None:
        self.app = app
        self.target = target
        self.in_flight = 0
        self.peak = 0
        self.full: anyio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.full = self.full or anyio.Event()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.in_flight >= self.target:
                self.full.set()
            with anyio.move_on_after(10):
                await self.full.wait()
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def test_concurrency_above_100_over_a_socket(sandbox: Sandbox) -> None:
    gate = HoldUntil(sandbox, target=120)
    with serve_in_thread(gate) as url:
        async with socket_client(url, max_connections=120) as client:
            outcomes = [o async for o in client.send_many(calls(130, 130), concurrency=120)]
    assert all(o.ok for o in outcomes)
    # The pool was sized to the concurrency: 120 connections carried 120 requests at once,
    # and the ten calls beyond them waited for a slot instead of making it 121.
    assert gate.peak == 120
    assert sandbox.state.dials == 130


async def test_concurrency_above_the_pool_is_refused_before_sending(sandbox_url: str) -> None:
    async with socket_client(sandbox_url, max_connections=20) as client:
        with pytest.raises(RequestValidationError) as info:
            client.send_many(calls(10, 10), concurrency=21)
    assert info.value.field == "concurrency"
    assert "max_connections=20" in info.value.rule


async def test_dropped_connections_over_a_socket(sandbox: Sandbox, sandbox_url: str) -> None:
    sandbox.faults = Faults(drop_rate=0.05, seed=11)
    async with socket_client(sandbox_url) as client:
        outcomes = [o async for o in client.send_many(calls(400, 40), concurrency=20)]
        assert pool_in_use(client) == 0
    unknown = [o for o in outcomes if isinstance(o.error, OutcomeUnknownError)]
    assert sandbox.faults.injected > 5
    assert len(unknown) == sandbox.faults.injected
    assert max(sandbox.state.dials_by_callee.values()) == 1
    assert sandbox.state.requests["voice/sendSip"] == 400


# httpcore leaves the request body's async generator to trio's finalizer when a send is
# cancelled mid-request; the warning is httpx's, the socket is closed (asserted below).
@pytest.mark.filterwarnings("ignore:Async generator 'httpx.* garbage collected:ResourceWarning")
async def test_leaving_the_batch_block_mid_batch_leaks_nothing(
    sandbox: Sandbox, sandbox_url: str
) -> None:
    sandbox.faults = Faults(latency=0.05)
    progress = BatchProgress()
    got: list[CallOutcome] = []
    async with socket_client(sandbox_url) as client:
        tasks_before = len(anyio.get_running_tasks())
        async with client.batch(calls(3000, 300), concurrency=50, progress=progress) as outcomes:
            async for outcome in outcomes:
                got.append(outcome)
                if len(got) == 60:
                    break
        # Deterministic: by the end of the block nothing of the batch runs.
        assert len(anyio.get_running_tasks()) == tasks_before
        assert progress.in_flight == 0
        assert progress.cancelled > 0
        assert pool_in_use(client) == 0
        dials = sandbox.state.dials
        await anyio.sleep(0.2)
        # No new call started; only requests that had reached the server finished there.
        assert sandbox.state.dials <= dials + progress.cancelled
    assert client_sockets(sandbox_url) == 0
    # Nothing was reported as placed that was not.
    assert all(sandbox.state.records.get(o.voice_id or "") is not None for o in got)
    assert progress.placed >= len(got)
    assert sandbox.state.dials <= progress.placed + progress.cancelled


# Trio warns when an unfinished async generator is left to its finalizer: that is the
# plain-`async for` form working as documented (client.batch() is the deterministic one).
@pytest.mark.filterwarnings("ignore:Async generator .* garbage collected:ResourceWarning")
async def test_breaking_out_of_send_many_stops_the_batch(
    sandbox: Sandbox, sandbox_url: str
) -> None:
    sandbox.faults = Faults(latency=0.05)
    progress = BatchProgress()
    async with socket_client(sandbox_url) as client:
        tasks_before = len(anyio.get_running_tasks())
        async for outcome in client.send_many(calls(3000, 300), concurrency=50, progress=progress):
            if outcome.index is not None and progress.done >= 30:
                break
        # The generator is closed by the event loop's finalizer: wait for it, boundedly.
        await finalized(progress, tasks_before)
        assert progress.in_flight == 0
        assert progress.read < 3000
        assert pool_in_use(client) == 0
    assert client_sockets(sandbox_url) == 0
