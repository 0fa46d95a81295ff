"""The fleet's Lua scripts on a real Redis, with an explicit clock (no sleeping).

Each test drives ACQUIRE/RELEASE/RENEW the way the coordinator does, but passes
``now`` itself, so spacing and expiry are exact and instant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import coredis
import pytest

from laaffic_async.fleet._scripts import ACQUIRE, RELEASE, RENEW, FleetKeys

pytestmark = pytest.mark.anyio

KEYS = FleetKeys("test-ns")
LEASE_MS = 2000.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    async with coredis.Redis.from_url(redis_url) as client:
        yield client


async def acquire(
    redis: Any,
    lease: str,
    account: str,
    now: float,
    *,
    interval: float = 0.0,
    capacity: int = 0,
) -> list[int]:
    keys = [KEYS.rate, KEYS.slots, KEYS.account(account), KEYS.epoch]
    args = [lease, f"{interval:.6f}", capacity, f"{LEASE_MS:.3f}", f"{now:.3f}"]
    answer = await redis.eval(ACQUIRE.source, keys, args)
    # Admitted: [1, delay us] (the epoch is checked on its own); refused: [0, why, ...].
    return [int(x) for x in (answer[:2] if int(answer[0]) == 1 else answer)]


async def renew(redis: Any, now: str, fresh: str, *leases: tuple[str, str, str]) -> list[Any]:
    """RENEW for (lease id, account, epoch) triples; returns [restored, current epoch]."""
    keys = [KEYS.slots, KEYS.epoch, *(KEYS.account(account) for _, account, _ in leases)]
    args = [f"{LEASE_MS:.3f}", now, fresh]
    for lease, _, epoch in leases:
        args += [lease, epoch]
    restored, epoch = await redis.eval(RENEW.source, keys, args)
    return [int(restored), epoch.decode()]


async def test_rate_books_evenly_spaced_starts(redis: Any) -> None:
    # 10 calls asked for at the same instant, 100 ms apart at 10/s.
    now = 1_000_000.0
    delays = [(await acquire(redis, f"l{i}", f"a{i}", now, interval=100.0))[1] for i in range(10)]
    assert delays == [i * 100_000 for i in range(10)]  # microseconds
    # After an idle spell the schedule does not bank a burst: the next call starts now.
    later = now + 60_000
    assert await acquire(redis, "late1", "b1", later, interval=100.0) == [1, 0]
    assert await acquire(redis, "late2", "b2", later, interval=100.0) == [1, 100_000]


async def test_capacity_is_a_fleet_wide_count_of_live_leases(redis: Any) -> None:
    now = 5_000_000.0
    for i in range(3):
        assert (await acquire(redis, f"l{i}", f"a{i}", now, capacity=3))[0] == 1
    assert await acquire(redis, "l3", "a3", now, capacity=3) == [0, 1]
    # A release frees one slot for the next caller.
    await redis.eval(RELEASE.source, [KEYS.slots, KEYS.account("a0")], ["l0"])
    assert (await acquire(redis, "l3", "a3", now, capacity=3))[0] == 1
    # A refused attempt books no rate: the next admitted call is not pushed back.
    assert await acquire(redis, "l4", "a4", now, capacity=3, interval=50.0) == [0, 1]
    await redis.eval(RELEASE.source, [KEYS.slots, KEYS.account("a1")], ["l1"])
    assert await acquire(redis, "l4", "a4", now, capacity=3, interval=50.0) == [1, 0]


async def test_leases_of_a_dead_worker_expire(redis: Any) -> None:
    now = 9_000_000.0
    assert (await acquire(redis, "dead", "acct", now, capacity=1))[0] == 1
    # Full, and the account is held, until the lease runs out (purged by the next caller).
    assert await acquire(redis, "other", "x", now + LEASE_MS - 1, capacity=1) == [0, 1]
    assert (await acquire(redis, "other", "x", now + LEASE_MS + 1, capacity=1))[0] == 1


async def test_one_lease_per_account(redis: Any) -> None:
    now = 2_000_000.0
    assert (await acquire(redis, "first", "acct", now))[0] == 1
    refused = await acquire(redis, "second", "acct", now)
    assert refused[:2] == [0, 2]
    assert 0 < refused[2] <= LEASE_MS  # the holder's remaining time, as a polling hint
    # Another account is free; a refused attempt took no slot either.
    assert (await acquire(redis, "third", "other", now, capacity=2))[0] == 1
    # Releasing with a stale lease id does not free someone else's account.
    await redis.eval(RELEASE.source, [KEYS.slots, KEYS.account("acct")], ["second"])
    assert (await acquire(redis, "second", "acct", now))[:2] == [0, 2]
    await redis.eval(RELEASE.source, [KEYS.slots, KEYS.account("acct")], ["first"])
    assert (await acquire(redis, "second", "acct", now))[0] == 1


async def test_renewal_extends_and_restores_leases(redis: Any) -> None:
    # The account key's expiry is real time (PX), so this test uses the server clock.
    assert (await acquire(redis, "held", "acct", await _server_ms(redis), capacity=1))[0] == 1
    epoch = (await redis.get(KEYS.epoch)).decode()
    now = await _server_ms(redis)
    later = now + 1500.0
    assert await renew(redis, f"{later:.3f}", "fresh1", ("held", "acct", epoch)) == [0, epoch]
    score = float(await redis.zscore(KEYS.slots, "held"))
    assert score == pytest.approx(later + LEASE_MS)
    # Past the original expiry the renewed lease still holds the slot.
    assert await acquire(redis, "other", "x", now + LEASE_MS + 100, capacity=1) == [0, 1]
    # Redis lost everything (restarted empty): renewal re-creates the held lease.
    await redis.flushall()
    assert await renew(redis, "", "fresh2", ("held", "acct", epoch)) == [1, "fresh2"]
    assert await redis.get(KEYS.account("acct")) == b"held"
    assert (await acquire(redis, "other", "acct", await _server_ms(redis)))[:2] == [0, 2]


async def test_renewal_never_resurrects_a_released_lease(redis: Any) -> None:
    # A release that reaches Redis just before a renewal naming the same lease must win.
    assert (await acquire(redis, "gone", "acct", await _server_ms(redis)))[0] == 1
    epoch = (await redis.get(KEYS.epoch)).decode()
    await redis.eval(RELEASE.source, [KEYS.slots, KEYS.account("acct")], ["gone"])
    assert await renew(redis, "", "fresh", ("gone", "acct", epoch)) == [0, epoch]
    assert await redis.zcard(KEYS.slots) == 0
    assert await redis.exists([KEYS.account("acct")]) == 0


async def test_renewal_never_steals_an_account_taken_meanwhile(redis: Any) -> None:
    await redis.set(KEYS.epoch, "new-epoch")
    await redis.set(KEYS.account("acct"), "someone-else", px=5000)
    await renew(redis, "", "fresh", ("mine", "acct", "old-epoch"))
    assert await redis.get(KEYS.account("acct")) == b"someone-else"


async def test_keys_share_one_cluster_slot() -> None:
    tagged = [KEYS.rate, KEYS.slots, KEYS.epoch, KEYS.account("a"), KEYS.account("other")]
    assert all("{test-ns}" in key for key in tagged)


async def _server_ms(redis: Any) -> float:
    moment = await redis.time()
    return float(moment.timestamp() * 1000)
