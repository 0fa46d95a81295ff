"""Several receivers on one spool, in-process on asyncio and trio: dedupe, leases, takeover.

Each receiver here stands for a worker process (or a replica, on Redis): it
has its own session and worker name, and shares only the spool.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from laaffic_async._core.pushes import parse_push
from laaffic_async._push.spool import LocalSpool, Spool
from laaffic_async._push.sqlite import SqliteStore
from laaffic_async.errors import RequestValidationError
from laaffic_async.events import PushEvent
from laaffic_async.fleet import RedisSpool
from laaffic_async.webhooks import PushReceiver

from .redis_support import RedisServer
from .webhook_helpers import eventually, post_json, voice_report

pytestmark = pytest.mark.anyio

HOUR = 3600.0
SpoolFactory = Callable[[], Path | RedisSpool]
LEASE = 1.0


class Handler:
    """Counts calls per key across receivers; ``slow`` keys take ``seconds``."""

    def __init__(self, slow: frozenset[str] = frozenset(), seconds: float = 0.0) -> None:
        self.calls: Counter[str] = Counter()
        self.returned: Counter[str] = Counter()
        self.slow = slow
        self.seconds = seconds

    async def __call__(self, event: PushEvent) -> None:
        self.calls[event.key] += 1
        if event.key in self.slow:
            await anyio.sleep(self.seconds)
        self.returned[event.key] += 1


def key(n: int) -> str:
    return f"voiceId:{voice_report(n)['voiceId']}"


@pytest.fixture(params=["sqlite", "redis"])
def make_spool(request: pytest.FixtureRequest, tmp_path: Path) -> SpoolFactory:
    """A factory of spools that all share one store (a file, or a Redis namespace)."""
    if request.param == "sqlite":
        path = tmp_path / "pushes.sqlite3"
        return lambda: path
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisSpool(server.url, namespace="hooks")


def raw_spool(spec: Path | RedisSpool) -> Spool:
    if isinstance(spec, Path):
        return LocalSpool(SqliteStore(spec, window=HOUR), time.time)
    return spec


async def test_redeliveries_are_dropped_across_receivers(make_spool: SpoolFactory) -> None:
    handler = Handler()
    apps = [PushReceiver(handler, spool=make_spool(), lease_seconds=LEASE) for _ in range(3)]
    statuses: list[int] = []

    async def post(app: PushReceiver, n: int) -> None:
        statuses.append(await post_json(app, voice_report(n)))

    async with apps[0], apps[1], apps[2]:
        async with anyio.create_task_group() as tg:
            for n in range(20):
                for app in apps:  # every receiver gets every push, concurrently
                    tg.start_soon(post, app, n)
        await eventually(lambda: len(handler.returned) == 20)
    assert statuses == [200] * 60
    assert sorted(handler.calls.values()) == [1] * 20
    stats = [app.stats() for app in apps]
    assert sum(s.received for s in stats) == 20
    assert sum(s.duplicates for s in stats) == 40
    assert sum(s.handled for s in stats) == 20
    assert sum(s.taken_over for s in stats) == 0


async def test_a_dead_workers_events_are_taken_over_a_live_ones_are_not(
    make_spool: SpoolFactory,
) -> None:
    # A worker admitted (and on Redis also read) three events, then died without a word.
    dead = raw_spool(make_spool())
    await dead.open(worker="dead", lease=LEASE, window=HOUR)
    pushes = [p for n in range(3) for p in parse_push(json.dumps(voice_report(n)).encode())]
    assert await dead.admit(pushes, time.time()) == pushes
    if not dead.owns_admitted:
        claimed = await dead.claim(time.time(), 10, 0.1)
        assert len(claimed.fresh) == 3
    await dead.close()
    # Two live workers; one of them holds a slow event for two leases.
    handler = Handler(slow=frozenset({key(9)}), seconds=2 * LEASE)
    first = PushReceiver(handler, spool=make_spool(), lease_seconds=LEASE)
    second = PushReceiver(handler, spool=make_spool(), lease_seconds=LEASE)
    async with first, second:
        assert await post_json(first, voice_report(9)) == 200
        await eventually(lambda: sum(handler.returned.values()) == 4)
    assert handler.calls == {key(n): 1 for n in (0, 1, 2, 9)}
    assert first.stats().taken_over + second.stats().taken_over == 3


async def test_a_stopping_receiver_releases_its_events_to_the_others(
    make_spool: SpoolFactory,
) -> None:
    blocked = Handler(slow=frozenset(key(n) for n in range(5)), seconds=HOUR)
    handler = Handler()
    first = PushReceiver(blocked, spool=make_spool(), lease_seconds=30, shutdown_grace=0)
    second = PushReceiver(handler, spool=make_spool(), lease_seconds=30)
    async with second:
        async with first:
            for n in range(5):
                assert await post_json(first, voice_report(n)) == 200
            await eventually(lambda: sum(blocked.calls.values()) + sum(handler.calls.values()) == 5)
        # Stopped long before its 30-second leases end: the others take over at once.
        await eventually(
            lambda: sum(handler.returned.values()) == 5 - sum(blocked.returned.values())
        )
    assert set(handler.returned) | set(blocked.returned) == {key(n) for n in range(5)}
    assert second.stats().taken_over == sum(blocked.calls.values())


async def test_redis_unreachable_answers_503_and_recovers(redis_server: RedisServer) -> None:
    handler = Handler()
    app = PushReceiver(handler, spool=RedisSpool(redis_server.url), lease_seconds=LEASE)
    async with app:
        assert await post_json(app, voice_report(1)) == 200
        # Handled before the outage: the test server keeps nothing across a restart.
        await eventually(lambda: len(handler.returned) == 1)
        redis_server.stop()
        assert await post_json(app, voice_report(2)) == 503  # not acknowledged: retried
        redis_server.start()  # empty: the stream and its group are made again
        assert await post_json(app, voice_report(2)) == 200
        await eventually(lambda: len(handler.returned) == 2)
    assert handler.calls == {key(1): 1, key(2): 1}
    assert (app.stats().received, app.stats().handled) == (2, 2)


async def test_a_receiver_on_redis_answers_503_until_started(redis_url: str) -> None:
    handler = Handler()
    app = PushReceiver(handler, spool=RedisSpool(redis_url), lease_seconds=LEASE)
    assert await post_json(app, voice_report(1)) == 503
    async with app:
        assert await post_json(app, voice_report(1)) == 200
        await eventually(lambda: len(handler.returned) == 1)


def test_redis_spool_checks_its_arguments() -> None:
    with pytest.raises(RequestValidationError, match="namespace"):
        RedisSpool("redis://127.0.0.1:1/0", namespace="a{b}")
    with pytest.raises(RequestValidationError, match="timeout"):
        RedisSpool("redis://127.0.0.1:1/0", timeout=0)
    with pytest.raises(RequestValidationError, match="lease_seconds"):
        PushReceiver(Handler(), spool=None, lease_seconds=0)


async def test_redis_forgets_consumers_that_hold_nothing(redis_url: str) -> None:
    spools = [RedisSpool(redis_url, namespace="q") for _ in range(3)]
    for n, spool in enumerate(spools):
        await spool.open(worker=f"w{n}", lease=LEASE, window=HOUR)
    pushes = parse_push(
        json.dumps([{"callId": "c", "sipAccount": str(n)} for n in range(2)]).encode()
    )
    assert len(await spools[0].admit(pushes, 0.0)) == 2
    # w0 and w1 read one entry each; w1 handles its entry, w2 never gets any.
    for spool in spools[:2]:
        [push] = (await spool.claim(0.0, 1, 0.1)).fresh
    await spools[1].done([push.key], 0.0)
    client = spools[0]._client
    names = {c["name"] for c in await client.xinfo_consumers("{q}:stream", "q")}
    assert names == {"w0", "w1"}
    await spools[0].purge(0.0)  # w1 holds nothing: forgotten; w0 (itself) stays
    names = {c["name"] for c in await client.xinfo_consumers("{q}:stream", "q")}
    assert names == {"w0"}
    for spool in reversed(spools):  # each holds a client's task group: last in, first out
        await spool.close()
