"""Fleet dialing in one process: several clients, each with its own RedisCoordinator.

The clients share one Redis and namespace and dial one sandbox, which counts
what actually reaches it: requests in flight, per account, and -68 answers.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import anyio
import pytest

from laaffic_async import AsyncClient, BatchProgress, CoordinationError, RequestValidationError
from laaffic_async.fleet import RedisCoordinator
from laaffic_async.testing import Sandbox

from .batch_support import assert_exactly_once, calls, make_client
from .dial_fleet_support import redis_cluster
from .redis_support import RedisServer

pytestmark = pytest.mark.anyio


def fleet_client(
    sandbox: Sandbox, url: str, *, lease: float = 2.0, timeout: float = 1.0, **kwargs: object
) -> AsyncClient:
    coordinator = RedisCoordinator(url, namespace="fleet", lease_seconds=lease, timeout=timeout)
    return make_client(sandbox, coordinator=coordinator, **kwargs)


async def dial(client: AsyncClient, callee: str, account: str) -> None:
    await client.send_sip(callee, account=account)


def coordinator_of(client: AsyncClient) -> RedisCoordinator:
    assert client.coordinator is not None
    return client.coordinator


async def test_three_clients_share_concurrency_rate_and_accounts(redis_url: str) -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.05
    starts: list[float] = []
    sandbox.state.call_listeners.append(lambda row: starts.append(time.monotonic()))
    clients = [fleet_client(sandbox, redis_url, concurrency=4, calls_per_second=60) for _ in "abc"]
    outcomes = []
    began = time.monotonic()
    async with clients[0], clients[1], clients[2]:

        async def run(client: AsyncClient, offset: int) -> None:
            # Every client dials the same five accounts.
            batch = list(calls(40, 5))[offset::3]
            outcomes.extend([o async for o in client.send_many(batch, concurrency=10)])

        async with anyio.create_task_group() as tg:
            for i, client in enumerate(clients):
                tg.start_soon(run, client, i)
    elapsed = time.monotonic() - began
    assert_exactly_once(sandbox, outcomes, 40)
    assert sandbox.state.peak_in_flight <= 4
    assert sandbox.state.busy_answers == 0  # no two workers ever put a call on one account
    # 40 starts at 60/s fleet-wide cannot take less than 39 intervals (slower is allowed);
    # three unshared budgets would have taken a third of that.
    assert elapsed >= 39 / 60 * 0.95
    assert len(starts) == 40
    for client in clients:
        assert coordinator_of(client)._held == {}


async def test_happy_path_costs_two_round_trips(redis_url: str) -> None:
    sandbox = Sandbox()
    async with fleet_client(sandbox, redis_url, lease=30.0, concurrency=5) as client:
        stats = coordinator_of(client).stats
        # The first acquire and release on a fresh Redis also load their scripts.
        await client.send_sip("932111110000", account="warm")
        assert stats.round_trips == 4
        for i in range(10):
            await client.send_sip(f"93211111{i:04d}", account=f"a{i}")
    assert sandbox.state.dials == 11
    assert (stats.admitted, stats.round_trips, stats.renewals) == (11, 24, 0)


async def test_a_long_request_keeps_its_account_through_renewals(redis_url: str) -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.6  # far longer than the lease: only renewal keeps it held
    first = fleet_client(sandbox, redis_url, lease=0.3)
    second = fleet_client(sandbox, redis_url, lease=0.3)
    async with first, second, anyio.create_task_group() as tg:
        tg.start_soon(dial, first, "932111111111", "shared")
        await anyio.sleep(0.1)
        tg.start_soon(dial, second, "932111111112", "shared")
    assert sandbox.state.dials == 2
    assert sandbox.state.peak_account_in_flight == 1
    assert coordinator_of(first).stats.renewals >= 1
    assert coordinator_of(second).stats.refused_account >= 1


async def test_redis_down_means_nothing_sent_then_recovery(redis_server: RedisServer) -> None:
    sandbox = Sandbox()
    async with fleet_client(sandbox, redis_server.url, timeout=1.0, concurrency=3) as client:
        await client.send_sip("932111111110", account="a")
        redis_server.stop()
        began = time.monotonic()
        with pytest.raises(CoordinationError):
            await client.send_sip("932111111111", account="a")
        progress = BatchProgress()
        outcomes = [o async for o in client.send_many(calls(6, 3), progress=progress)]
        # Promptly: well within the documented bound (timeout per attempt), not parked.
        assert time.monotonic() - began < 5
        assert all(isinstance(o.error, CoordinationError) for o in outcomes)
        assert (progress.failed, progress.unknown, progress.placed) == (6, 0, 0)
        assert sandbox.state.dials == 1
        # A restarted, empty Redis (no scripts, no keys) serves the next calls at once.
        redis_server.start()
        outcomes = [o async for o in client.send_many(calls(6, 3))]
    assert all(o.ok for o in outcomes)
    assert sandbox.state.dials == 7


async def test_a_call_waiting_for_its_account_fails_when_redis_goes(
    redis_server: RedisServer,
) -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 1.0
    holder = fleet_client(sandbox, redis_server.url, timeout=0.5)
    waiter = fleet_client(sandbox, redis_server.url, timeout=0.5)
    failed_after: list[float] = []
    async with holder, waiter, anyio.create_task_group() as tg:
        tg.start_soon(dial, holder, "932111111111", "shared")
        await anyio.sleep(0.2)

        async def wait_then_fail() -> None:
            with pytest.raises(CoordinationError):
                await waiter.send_sip("932111111112", account="shared")
            failed_after.append(time.monotonic())

        tg.start_soon(wait_then_fail)
        await anyio.sleep(0.2)
        stopped = time.monotonic()
        redis_server.stop()
    # The call admitted before the outage still went; the waiting one never did.
    assert sandbox.state.dials == 1
    assert failed_after[0] - stopped < 2.0


async def test_busy_answer_backoff_holds_no_fleet_slot(redis_url: str) -> None:
    sandbox = Sandbox()
    sandbox.state.call_seconds = 0.3  # the account stays busy after its call is placed
    async with fleet_client(sandbox, redis_url, concurrency=1) as client:
        batch = [*calls(3, 1), *(c for c in calls(8, 8) if c.account != "acct000")]
        progress = BatchProgress()
        outcomes = [o async for o in client.send_many(batch, busy_delay=0.05, progress=progress)]
        coordinator = coordinator_of(client)
        assert coordinator._held == {}
        slots = await coordinator._redis.zcard(coordinator.keys.slots)
    assert all(o.ok for o in outcomes)
    assert progress.busy >= 1
    assert slots == 0
    # While acct000 backed off, the single fleet slot served the other accounts.
    first_done = [o.call.account for o in outcomes[:3]]
    assert first_done.count("acct000") < 3


def test_bad_settings_are_refused_before_anything_connects() -> None:
    with pytest.raises(RequestValidationError, match="url"):
        RedisCoordinator("http://127.0.0.1:6379")
    with pytest.raises(RequestValidationError, match="namespace"):
        RedisCoordinator("redis://127.0.0.1", namespace="a{b}")
    with pytest.raises(RequestValidationError, match="lease_seconds"):
        RedisCoordinator("redis://127.0.0.1", lease_seconds=0.01)
    with pytest.raises(RequestValidationError, match="timeout"):
        RedisCoordinator("redis://127.0.0.1", timeout=0)
    with pytest.raises(RequestValidationError, match="cluster"):
        RedisCoordinator("redis://127.0.0.1", cluster="yes")  # type: ignore[arg-type]


async def test_the_coordinator_needs_the_client_entered(redis_url: str) -> None:
    client = fleet_client(Sandbox(), redis_url)
    with pytest.raises(RuntimeError, match="async with"):
        await client.send_sip("932111111111", account="a")


async def test_cancelled_waiters_leave_no_lease_behind(redis_url: str) -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.3
    holder = fleet_client(sandbox, redis_url, lease=30.0, concurrency=1, calls_per_second=2)
    waiter = fleet_client(sandbox, redis_url, lease=30.0, concurrency=1, calls_per_second=2)
    async with holder, waiter, anyio.create_task_group() as tg:
        tg.start_soon(dial, holder, "932111111111", "a")
        await anyio.sleep(0.05)
        with anyio.move_on_after(0.1):  # cancelled while the fleet is full
            await waiter.send_sip("932111111112", account="b")
    async with fleet_client(sandbox, redis_url, concurrency=1, calls_per_second=2) as third:
        await third.send_sip("932111111113", account="c")
        with anyio.move_on_after(0.1):  # cancelled while sleeping to its booked start
            await third.send_sip("932111111114", account="d")
        coordinator = coordinator_of(third)
        redis = coordinator._redis
        assert await redis.zcard(coordinator.keys.slots) == 0
        assert await redis.exists([coordinator.keys.account(x) for x in "abcd"]) == 0
    assert sandbox.state.dials == 2


async def test_leases_in_flight_survive_an_empty_redis_restart(redis_server: RedisServer) -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.9
    first = fleet_client(sandbox, redis_server.url, lease=0.6)
    second = fleet_client(sandbox, redis_server.url, lease=0.6)
    async with first, second, anyio.create_task_group() as tg:
        tg.start_soon(dial, first, "932111111111", "shared")
        await anyio.sleep(0.1)
        redis_server.stop()
        redis_server.start()
        await anyio.sleep(0.45)  # the next renewal (every 0.2 s) re-creates the lease
        await second.send_sip("932111111112", account="shared")
    assert coordinator_of(first).stats.restored >= 1
    assert sandbox.state.dials == 2
    assert sandbox.state.peak_account_in_flight == 1


async def test_redis_cluster(tmp_path: Path) -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.02
    with redis_cluster(tmp_path) as url:
        clients = [
            make_client(
                sandbox,
                coordinator=RedisCoordinator(url, namespace="eu", cluster=True),
                concurrency=2,
                calls_per_second=100,
            )
            for _ in "ab"
        ]
        outcomes = []
        async with clients[0], clients[1], anyio.create_task_group() as tg:

            async def run(client: AsyncClient, offset: int) -> None:
                batch = list(calls(12, 3))[offset::2]
                outcomes.extend([o async for o in client.send_many(batch)])

            for i, client in enumerate(clients):
                tg.start_soon(run, client, i)
    assert_exactly_once(sandbox, outcomes, 12)
    assert sandbox.state.peak_in_flight <= 2
    assert sandbox.state.busy_answers == 0


def test_without_the_redis_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "coredis", None)  # what an absent package looks like
    with pytest.raises(ImportError, match=r"pip install 'laaffic-async\[redis\]'"):
        RedisCoordinator("redis://127.0.0.1:6379/0")


async def test_an_unresponsive_redis_fails_every_waiter_within_the_bound(
    redis_server: RedisServer,
) -> None:
    sandbox = Sandbox()
    sandbox.faults.latency = 0.5
    failed: list[float] = []
    process = redis_server.process
    assert process is not None
    async with fleet_client(sandbox, redis_server.url, timeout=0.5, concurrency=1) as client:

        async def wait_then_fail(i: int) -> None:
            with pytest.raises(CoordinationError):
                await client.send_sip(f"93211111{i:04d}", account=f"w{i}")
            failed.append(time.monotonic())
            if len(failed) == 6:
                all_failed.set()

        all_failed = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(dial, client, "932111111111", "holder")
            await anyio.sleep(0.1)
            for i in range(6):  # queued behind the one fleet slot
                tg.start_soon(wait_then_fail, i)
            await anyio.sleep(0.1)
            process.send_signal(signal.SIGSTOP)  # alive but silent: every reply times out
            frozen = time.monotonic()
            try:
                with anyio.move_on_after(2.0):
                    await all_failed.wait()
            finally:
                process.send_signal(signal.SIGCONT)
    # Six queued calls, each bounded by one timeout from the freeze (not six in a row).
    assert len(failed) == 6
    assert max(failed) - frozen < 0.5 + 0.3 + 0.5
    assert sandbox.state.dials == 1


async def test_one_coordinator_serves_one_client(redis_url: str) -> None:
    coordinator = RedisCoordinator(redis_url, namespace="fleet")
    first = make_client(Sandbox(), coordinator=coordinator)
    second = make_client(Sandbox(), coordinator=coordinator)
    async with first:
        with pytest.raises(RuntimeError, match="already in use"):
            await second.__aenter__()
        await first.send_sip("932111111111", account="a")


async def test_a_batch_over_a_hung_redis_ends_promptly(redis_server: RedisServer) -> None:
    sandbox = Sandbox()
    process = redis_server.process
    assert process is not None
    async with fleet_client(sandbox, redis_server.url, timeout=0.5, concurrency=20) as client:
        await client.send_sip("932111111111", account="warm")
        process.send_signal(signal.SIGSTOP)  # alive but silent: every reply times out
        try:
            began = time.monotonic()
            progress = BatchProgress()
            batch = client.send_many(calls(300, 100), concurrency=20, progress=progress)
            outcomes = [o async for o in batch]
            elapsed = time.monotonic() - began
        finally:
            process.send_signal(signal.SIGCONT)
    assert all(isinstance(o.error, CoordinationError) for o in outcomes)
    assert progress.failed == 300
    assert sandbox.state.dials == 1
    # One timeout for the first wave, then the rest fail at once: not 300 / 20 x 0.5 s.
    assert elapsed < 3.0


async def test_fleet_waits_reach_the_instrumentation(redis_url: str) -> None:
    from laaffic_async._io.instrument import Instrumentation

    class Waits(Instrumentation):
        def __init__(self) -> None:
            self.waits: list[tuple[str, float]] = []

        def rate_waited(self, limiter: str, seconds: float) -> None:
            self.waits.append((limiter, seconds))

    waits = Waits()
    coordinator = RedisCoordinator(redis_url, namespace="fleet")
    gate = coordinator.limits(1, 5.0, instrumentation=waits)
    async with coordinator:
        for account in ("a", "b", "c"):
            async with gate.admit(account):
                pass
    assert [name for name, _ in waits.waits] == ["fleet"] * 3
    # Starts are booked 0.2 s apart: admissions right after one another wait for them.
    assert max(seconds for _, seconds in waits.waits) > 0.05


async def test_a_journaled_batch_passes_the_fleet_gate(redis_url: str, tmp_path: Path) -> None:
    from laaffic_async import Call
    from laaffic_async.journal import DialJournal

    sandbox = Sandbox()
    sandbox.faults.latency = 0.02
    batch = [Call(callee=f"93211111{i:04d}", account=f"a{i % 2}", ref=f"r{i}") for i in range(8)]
    async with (
        fleet_client(sandbox, redis_url, concurrency=2) as client,
        DialJournal(tmp_path / "j.sqlite3") as journal,
    ):
        outcomes = [o async for o in client.send_many(batch, journal=journal)]
        stats = coordinator_of(client).stats
    assert all(o.ok for o in outcomes)
    assert stats.admitted == 8
    assert sandbox.state.dials == 8
    assert sandbox.state.peak_account_in_flight == 1
