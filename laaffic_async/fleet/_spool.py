"""RedisSpool: a push receiver's spool shared by every worker and replica.

Keys (all under one hash tag, ``{namespace}``, so a cluster keeps them on one
node and scripts may touch them together):

* ``{ns}:stream``: the work queue, a Redis Stream read by the consumer group
  ``ns``; each worker session is one consumer.  An entry is ``k`` (the
  redelivery key), ``t`` (its kind) and ``d`` (the event's JSON).
* ``{ns}:seen:<key>``: one per admitted key, expiring after the dedupe window.

``admit`` is one Lua script: ``SET NX EX`` on the dedupe key and ``XADD``
together, so two replicas given the same push at once enqueue it once, and
nothing is enqueued without its key (or keyed without being enqueued).
Workers read with ``XREADGROUP`` (the entry joins their pending list),
``XACK`` and ``XDEL`` it when the handler returned, and renew their lease by
resetting the entry's idle time (``XCLAIM ... JUSTID`` on entries they still
own).  An entry idle longer than the lease belongs to a worker that died:
``XAUTOCLAIM`` hands it to another.

Durability is Redis's: an acknowledged push is in Redis's memory, and on disk
as far as its persistence settings say (``appendonly yes`` with
``appendfsync everysec`` loses at most a second on a crash of Redis).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import anyio
import attrs

from .._core.pushes import ParsedPush, rebuild_event
from .._push.spool import Claimed
from ..errors import RequestValidationError
from ._redis import import_coredis

__all__ = ["RedisSpool"]

_ADMIT = """
local stream, group, prefix, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', stream) == 0 then
    redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
end
local new = {}
for i = 4, #ARGV, 3 do
    if redis.call('SET', prefix .. ARGV[i], '1', 'NX', 'EX', ttl) then
        redis.call('XADD', stream, '*', 'k', ARGV[i], 't', ARGV[i + 1], 'd', ARGV[i + 2])
        new[#new + 1] = 1
    else
        new[#new + 1] = 0
    end
end
return new
"""

# Reset the idle time of the entries this consumer still owns; return the others (lost).
_RENEW = """
local stream, group, me = KEYS[1], ARGV[1], ARGV[2]
local claim, lost = {'XCLAIM', stream, group, me, 0}, {}
for i = 3, #ARGV do
    local entry = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)[1]
    if entry and entry[2] == me then claim[#claim + 1] = ARGV[i] else lost[#lost + 1] = ARGV[i] end
end
if #claim > 5 then
    claim[#claim + 1] = 'JUSTID'
    redis.call(unpack(claim))
end
return lost
"""

_DONE = """
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
"""

# Forget consumers (sessions) that own no entries: each session is a new consumer, and
# dead ones would pile up.  Atomic, so none can be handed an entry while it goes.
_FORGET = """
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local gone = 0
for _, consumer in ipairs(consumers) do
    local field = {}
    for i = 1, #consumer, 2 do field[consumer[i]] = consumer[i + 1] end
    if field['name'] ~= ARGV[2] and field['pending'] == 0 then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], field['name'])
        gone = gone + 1
    end
end
return gone
"""


def _chunks(ids: list[str], size: int = 1000) -> list[list[str]]:
    # Lua's unpack() has a limit of a few thousand values.
    return [ids[i : i + size] for i in range(0, len(ids), size)]


@attrs.define(eq=False)
class _Slot:
    items: Sequence[Any]
    result: Sequence[Any] = ()
    error: BaseException | None = None
    done: bool = False


class _Batcher:
    """Concurrent calls share one round trip: whoever gets the lock sends all queued items.

    Under load this is one script call for many pushes instead of one each
    (the receiver's CPU per push is mostly the Redis client's per-command cost).
    """

    def __init__(self, send: Callable[[list[Any]], Awaitable[Sequence[Any]]]) -> None:
        self._send = send
        self._queue: list[_Slot] = []
        self._lock = anyio.Lock()

    async def __call__(self, items: Sequence[Any]) -> Sequence[Any]:
        slot = _Slot(items)
        self._queue.append(slot)
        async with self._lock:
            if not slot.done:
                batch, self._queue = self._queue, []
                try:
                    results = await self._send([item for s in batch for item in s.items])
                except BaseException as exc:
                    for other in batch:  # never re-raise this task's cancellation elsewhere
                        other.error = RuntimeError(f"Redis call failed: {exc!r}")
                        other.done = True
                    raise
                start = 0
                for other in batch:
                    other.result = results[start : start + len(other.items)]
                    start += len(other.items)
                    other.done = True
        if slot.error is not None:
            raise slot.error
        return slot.result


class RedisSpool:
    """A push spool in Redis, for receivers on several hosts (``laaffic-async[redis]``).

    ::

        from laaffic_async.fleet import RedisSpool
        from laaffic_async.webhooks import PushReceiver

        app = PushReceiver(on_push, spool=RedisSpool("redis://redis:6379/0", namespace="pushes"))

    Every receiver with the same Redis and ``namespace`` shares one dedupe
    window and one work queue: a push is handled once whichever replica got
    it, and events held by a replica that died are taken over after the
    receiver's ``lease_seconds``.  When Redis cannot be reached the receiver
    answers 503 (the platform retries) instead of acknowledging.
    ``timeout``: seconds to connect to Redis or wait for an answer.
    """

    owns_admitted = False

    def __init__(self, url: str, *, namespace: str = "pushes", timeout: float = 2.0) -> None:
        if not namespace or any(c in namespace for c in "{}"):
            raise RequestValidationError(
                "namespace", "must be a non-empty string without braces", namespace
            )
        if not timeout > 0:
            raise RequestValidationError("timeout", "must be positive", timeout)
        self._coredis = import_coredis()
        self.url = url
        self.namespace = namespace
        self.timeout = timeout
        self._stream = f"{{{namespace}}}:stream"
        self._seen = f"{{{namespace}}}:seen:"
        self._client: Any = None
        self._reader: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._scripts: dict[str, Any] = {}
        self._worker = ""
        self._lease_ms = 0
        self._window = 0
        # Stream entry ids of the events this session holds, by key.
        self._ids: dict[str, str] = {}
        self._cursor = "0-0"
        self._next_autoclaim = float("-inf")

    def __repr__(self) -> str:
        return f"RedisSpool(namespace={self.namespace!r})"

    async def open(self, *, worker: str, lease: float, window: float) -> None:
        """Connect lazily: a Redis outage at start shows as 503s, not a failed start."""
        if self._client is not None:
            raise RuntimeError("this RedisSpool is already open (one receiver per RedisSpool)")

        def connect() -> Any:
            return self._coredis.Redis.from_url(
                self.url,
                decode_responses=True,
                connect_timeout=self.timeout,
                # Above the longest blocking read (claim waits at most a second).
                stream_timeout=self.timeout + 1.0,
                retry_policy=self._coredis.retry.NoRetryPolicy(),
            )

        # Two clients: coredis shares connections between concurrent commands, and an
        # admit queued behind a blocking XREADGROUP would wait out its block (measured:
        # p99 acknowledgement 500 ms at 500 pushes/s with one client).
        client, reader = connect(), connect()
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(client)
            await stack.enter_async_context(reader)
        except BaseException:
            await stack.aclose()
            raise
        self._client, self._reader, self._stack = client, reader, stack
        self._scripts = {
            name: client.register_script(text)
            for name, text in (
                ("admit", _ADMIT),
                ("renew", _RENEW),
                ("done", _DONE),
                ("forget", _FORGET),
            )
        }
        self._worker = worker
        self._lease_ms = max(1, round(lease * 1000))
        self._window = max(1, int(window + 0.999))
        self._ids.clear()
        self._cursor = "0-0"
        self._next_autoclaim = float("-inf")
        # Made per session: a lock belongs to the event loop that made it.
        self._admit = _Batcher(self._send_admit)
        self._done = _Batcher(self._send_done)

    async def admit(self, pushes: Sequence[ParsedPush], now: float) -> list[ParsedPush]:
        """Key and enqueue ``pushes`` atomically; return the new ones."""
        flags = await self._admit(pushes)
        return [push for push, flag in zip(pushes, flags, strict=True) if flag]

    async def _send_admit(self, pushes: list[ParsedPush]) -> Sequence[int]:
        args: list[str | int] = [self.namespace, self._seen, self._window]
        for push in pushes:
            args += [push.key, push.kind, push.data]
        with anyio.fail_after(2 * self.timeout):  # the platform's retry beats a hung request
            flags: Sequence[int] = await self._scripts["admit"](keys=[self._stream], args=args)
        return flags

    async def claim(self, now: float, limit: int, wait: float) -> Claimed:
        """Entries of dead workers (idle over a lease) first, else new ones."""
        errors = self._coredis.exceptions
        # A bound of our own too: a read must never hang the claiming loop.
        with anyio.fail_after(2 * self.timeout + wait):
            try:
                return await self._claim(limit, wait)
            except errors.StreamConsumerGroupError:  # NOGROUP
                # No stream or group yet (Redis restarted empty, or nothing pushed): make them.
                with contextlib.suppress(errors.StreamDuplicateConsumerGroupError):
                    await self._client.xgroup_create(
                        self._stream, self.namespace, "0", mkstream=True
                    )
                return await self._claim(limit, wait)

    async def _claim(self, limit: int, wait: float) -> Claimed:
        client = self._client
        # Takeovers are looked for about once per ``wait`` (a dead worker's entries
        # wait a lease anyway), not on every read of new entries.
        if anyio.current_time() >= self._next_autoclaim:
            self._next_autoclaim = anyio.current_time() + wait
            cursor, entries, *_ = await client.xautoclaim(
                self._stream,
                self.namespace,
                self._worker,
                self._lease_ms,
                self._cursor,
                count=limit,
            )
            self._cursor = cursor
            taken = self._hold(entries)
            if taken:
                return Claimed(taken=taken)
        got = await self._reader.xreadgroup(
            self.namespace,
            self._worker,
            {self._stream: ">"},
            count=limit,
            block=max(1, round(wait * 1000)),
        )
        return Claimed(fresh=self._hold(got.get(self._stream, ()) if got else ()))

    def _hold(self, entries: Sequence[Any]) -> list[ParsedPush]:
        pushes = []
        for entry in entries:
            fields = entry.field_values
            key, kind, data = fields["k"], fields["t"], fields["d"]
            self._ids[key] = entry.identifier
            pushes.append(ParsedPush(key, kind, data, rebuild_event(kind, data)))
        return pushes

    def _held_ids(self, keys: Collection[str]) -> list[str]:
        return [self._ids[key] for key in keys if key in self._ids]

    async def renew(self, keys: Collection[str], now: float) -> None:
        """Reset the idle time of the entries still ours (a lost one is forgotten)."""
        lost: set[str] = set()
        for chunk in _chunks(self._held_ids(keys)):
            args = [self.namespace, self._worker, *chunk]
            lost.update(await self._scripts["renew"](keys=[self._stream], args=args))
        if lost:
            self._ids = {k: i for k, i in self._ids.items() if i not in lost}

    async def done(self, keys: Collection[str], now: float) -> None:
        """Acknowledge and delete the entries (their dedupe keys stay until they expire)."""
        ids = self._held_ids(keys)
        if ids:
            await self._done(ids)
        for key in keys:
            self._ids.pop(key, None)

    async def _send_done(self, ids: list[str]) -> Sequence[None]:
        for chunk in _chunks(ids):
            await self._scripts["done"](keys=[self._stream], args=[self.namespace, *chunk])
        return [None] * len(ids)

    async def release(self, keys: Collection[str]) -> None:
        """Mark the entries idle past a lease, so the next ``XAUTOCLAIM`` takes them."""
        ids = self._held_ids(keys)
        if ids:
            await self._client.xclaim(
                self._stream,
                self.namespace,
                self._worker,
                0,
                ids,
                idle=self._lease_ms * 2,
                justid=True,
            )
        for key in keys:
            self._ids.pop(key, None)

    async def purge(self, now: float) -> None:
        """Forget consumers that hold nothing (dedupe keys expire by themselves)."""
        await self._scripts["forget"](keys=[self._stream], args=[self.namespace, self._worker])

    async def close(self) -> None:
        """Disconnect (held entries stay in the group's pending list)."""
        stack, self._stack, self._client, self._reader = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()
