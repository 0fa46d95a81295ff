"""Shared helpers of the send_many tests: clients, call generators, leak probes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import psutil

from laaffic_async import AsyncClient, BatchProgress, Call, CallOutcome
from laaffic_async._io.pool import PooledTransport
from laaffic_async._io.session import DirectSession, HttpxSession
from laaffic_async.testing import Sandbox, SandboxTransport

KEY, SECRET, APP = "bDqJFiq9", "7bz1lzh9", "4luaKsL2"


def make_client(sandbox: Sandbox, **kwargs: object) -> AsyncClient:
    options: dict[str, object] = {"app_id": APP, "base_url": "http://sandbox/v3"}
    options.update(kwargs)
    return AsyncClient(KEY, SECRET, transport=SandboxTransport(sandbox), **options)  # type: ignore[arg-type]


def socket_client(url: str, **kwargs: object) -> AsyncClient:
    return AsyncClient(KEY, SECRET, app_id=APP, base_url=url, **kwargs)  # type: ignore[arg-type]


def calls(n: int, accounts: int) -> Iterator[Call]:
    return (Call(callee=f"9321{i:08d}", account=f"acct{i % accounts:03d}") for i in range(n))


def assert_exactly_once(sandbox: Sandbox, outcomes: list[CallOutcome], n: int) -> None:
    assert len(outcomes) == n
    assert all(o.ok for o in outcomes), next(o.error for o in outcomes if not o.ok)
    assert sandbox.state.dials == n
    assert set(sandbox.state.dials_by_callee.values()) == {1}
    assert len({o.voice_id for o in outcomes}) == n
    assert sandbox.state.requests["voice/sendSip"] == n
    assert sandbox.state.peak_account_in_flight == 1


def client_sockets(url: str) -> int:
    """Our process's TCP connections *to* the server (the server's own sockets excluded)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    return sum(
        1 for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port
    )


def pool_in_use(client: AsyncClient) -> int:
    """Requests the pool still counts as active (a leak if not 0 when idle)."""
    session = client._caller.session
    if isinstance(session, DirectSession) and isinstance(session.transport, PooledTransport):
        stats = session.transport.pool_stats().values()
        return sum(s.connections - s.idle + s.waiting for s in stats)
    assert isinstance(session, HttpxSession)
    pool: Any = session.http._transport._pool  # type: ignore[attr-defined]
    busy = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
    return len(busy) + len(pool._requests)


async def finalized(progress: BatchProgress, tasks_before: int) -> None:
    """Wait (boundedly) for a dropped send_many generator's finalizer to stop its batch."""
    with anyio.fail_after(10):
        # Polling on purpose: the finalizer runs in a task of the event loop's choosing.
        while progress.finished_at is None or len(anyio.get_running_tasks()) > tasks_before:  # noqa: ASYNC110
            await anyio.sleep(0.01)
