"""RedisCoordinator: the dialing budgets of a whole fleet, kept in Redis.

One dialing request costs two Redis round trips on the happy path: one
``EVALSHA`` that books the rate, a concurrency slot and the account together
(:data:`~._scripts.ACQUIRE`), one that gives them back.  Requests that stay in
flight longer than a third of a lease are renewed by one background task, all
of the process's leases in one call.  A refused attempt books nothing; the
caller polls again (the fleet's slots: one poller per process, woken early by a
local release; a held account: its own short backoff).

Every Redis failure becomes :class:`~laaffic_async.errors.CoordinationError`
before the request is sent, within ``timeout`` seconds; after an operation
timed out (a hung Redis), calls fail at once for ``timeout`` seconds before
Redis is tried again, so a batch ends promptly instead of paying a timeout per
call.  A refused connection fails at once anyway, so a restarted Redis is used
by the very next call.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio
import attrs
from anyio.abc import TaskGroup

from .._dialing.limits import positive_int, positive_rate
from .._io.instrument import NOOP, Instrumentation
from ..errors import CoordinationError, RequestValidationError
from ._parts import (
    FULL,
    Answer,
    CoordinatorStats,
    Lease,
    Wakeup,
    check_lease,
    check_namespace,
    text,
)
from ._redis import import_coredis
from ._scripts import ACQUIRE, RELEASE, RENEW, FleetKeys, Script

__all__ = ["FleetLimits", "RedisCoordinator"]

log = logging.getLogger("laaffic_async")

# Polling a full fleet: first wait, and the ceiling the backoff grows to.
_SLOT_POLL = 0.005
_SLOT_POLL_MAX = 0.05
# Polling an account another worker holds (its request usually ends within a latency).
_ACCOUNT_POLL = 0.01
_ACCOUNT_POLL_MAX = 0.25


class RedisCoordinator:
    """Fleet-wide dialing budgets in Redis: pass it to ``AsyncClient(coordinator=...)``.

    Every client (any process, any host) with the same Redis ``url`` and
    ``namespace`` shares the client's ``concurrency`` (requests in flight),
    ``calls_per_second`` (evenly spaced starts) and one request in flight per
    phone account.  Leases expire ``lease_seconds`` after their last renewal,
    so a worker that dies gives its slots and accounts back within that time.

    ``timeout`` bounds every Redis operation: when Redis is unreachable a
    dialing request raises :class:`~laaffic_async.errors.CoordinationError`
    (nothing was sent) within about ``timeout`` seconds, and after a timeout
    the next ``timeout`` seconds of calls fail at once.  Reconnection is
    automatic.  ``cluster=True`` speaks Redis Cluster (``url`` names any node);
    every key of a namespace carries the hash tag ``{namespace}``, so one
    namespace lives in one slot.  The client enters and leaves the
    coordinator with itself; one coordinator serves one client at a time.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "laaffic",
        lease_seconds: float = 30.0,
        timeout: float = 2.0,
        cluster: bool = False,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            rule = "must be a redis://, rediss:// or unix:// URL"
            raise RequestValidationError("url", rule, url)
        self.url = url
        self.namespace = check_namespace(namespace)
        self.lease_seconds = check_lease(lease_seconds)
        self.timeout = positive_rate("timeout", timeout)
        if not isinstance(cluster, bool):
            raise RequestValidationError("cluster", "must be True or False", cluster)
        self.cluster = cluster
        self.keys = FleetKeys(self.namespace)
        self.stats = CoordinatorStats()
        # Without the extra this fails here, with the install hint, not on entry.
        self._noscript: type[Exception] = import_coredis().exceptions.NoScriptError
        self._worker = uuid.uuid4().hex[:12]
        self._serial = 0
        # Leases this process holds (what the renewer renews).
        self._held: dict[str, Lease] = {}
        self._redis: Any = None
        self._stack: AsyncExitStack | None = None
        # One local poller for a full fleet at a time; a local release wakes it early.
        # (Made on entry: anyio's primitives need the running event loop's backend.)
        self._turn: anyio.Lock | None = None
        self._freed = Wakeup()
        # When (anyio clock) a Redis operation last failed (see _admit), and until when
        # calls fail at once after one timed out (see _call).
        self._failed_at = -math.inf
        self._stalled_until = -math.inf

    def __repr__(self) -> str:
        return (
            f"RedisCoordinator(namespace={self.namespace!r}, "
            f"lease_seconds={self.lease_seconds}, held={len(self._held)})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("this RedisCoordinator is already in use by a client")
        coredis = import_coredis()
        kind = coredis.RedisCluster if self.cluster else coredis.Redis
        with warnings.catch_warnings():
            # coredis 6's own RedisCluster.from_url trips its startup-nodes deprecation.
            warnings.simplefilter("ignore", DeprecationWarning)
            redis = kind.from_url(
                self.url,
                connect_timeout=self.timeout,
                stream_timeout=self.timeout,
                pool_timeout=self.timeout,
            )
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(redis)
            task_group: TaskGroup = await stack.enter_async_context(anyio.create_task_group())
            task_group.start_soon(self._renew_forever, name="laaffic_async lease renewer")
            stack.callback(task_group.cancel_scope.cancel)
            self._redis = redis
            self._turn = anyio.Lock()
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        self._redis = None
        if stack is not None:
            await stack.aclose()

    def limits(
        self,
        concurrency: int | None = None,
        calls_per_second: float | None = None,
        *,
        instrumentation: Instrumentation = NOOP,
    ) -> FleetLimits:
        """The gate a client's dialing requests pass: these budgets, shared fleet-wide.

        Each admission's wait is reported to ``instrumentation`` as the limiter ``"fleet"``.
        """
        return FleetLimits(self, concurrency, calls_per_second, instrumentation)

    async def ping(self) -> None:
        """Check that Redis answers; raise :class:`CoordinationError` if not."""
        await self._call(None)

    # -- the scripts -----------------------------------------------------------------------

    async def _call(
        self, script: Script | None, keys: Sequence[str] = (), args: Sequence[Any] = ()
    ) -> Any:
        redis = self._redis
        if redis is None:
            raise RuntimeError("the coordinator is used outside `async with AsyncClient(...)`")
        if anyio.current_time() < self._stalled_until:
            # Redis just let an operation time out: do not spend another `timeout` on it
            # per call, or a batch over a hung Redis would take calls x timeout to end.
            self.stats.failures += 1
            raise CoordinationError("Redis timed out moments ago; not waiting on it again yet")
        try:
            with anyio.fail_after(self.timeout):
                if script is None:
                    self.stats.round_trips += 1
                    return await redis.ping()
                try:
                    self.stats.round_trips += 1
                    return await redis.evalsha(script.sha, keys, args)
                except self._noscript:
                    # A Redis restarted empty has forgotten the script: send its source once.
                    self.stats.round_trips += 1
                    return await redis.eval(script.source, keys, args)
        except Exception as exc:
            # Whatever the Redis client raised (coredis' errors, a socket's, anyio's broken
            # stream, our timeout), coordination failed and the call must not be sent:
            # never let it surface as something a batch would report as "outcome unknown".
            self.stats.failures += 1
            self._failed_at = anyio.current_time()
            if isinstance(exc, TimeoutError):
                # Hung, not down (a refused connection fails at once and costs nothing).
                self._stalled_until = self._failed_at + self.timeout
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise CoordinationError(f"Redis {reason}: {exc}".rstrip(": ")) from exc

    def _new_lease(self) -> str:
        self._serial += 1
        return f"{self._worker}:{self._serial}"

    async def _try(self, lease: str, account: str, interval_ms: float, capacity: int) -> Answer:
        keys = [self.keys.rate, self.keys.slots, self.keys.account(account), self.keys.epoch]
        lease_ms = self.lease_seconds * 1000
        args = [lease, f"{interval_ms:.6f}", capacity, f"{lease_ms:.3f}", ""]
        answer = await self._call(ACQUIRE, keys, args)
        if int(answer[0]) == 1:
            return Answer(True, delay_us=int(answer[1]), epoch=text(answer[2]))
        if int(answer[1]) == 1:
            return Answer(False, full=True)  # a real refusal, not the FULL sentinel of _admit
        return Answer(False, ttl_ms=int(answer[2]))

    async def acquire(self, account: str, interval_ms: float, capacity: int) -> str:
        """Wait for a slot, the account and a start instant; return the lease id.

        Sleeps until the booked start before returning; raises
        :class:`CoordinationError` when Redis fails (nothing is then held
        that will not expire).
        """
        turn = self._turn
        if turn is None:
            raise RuntimeError("the coordinator is used outside `async with AsyncClient(...)`")
        lease = self._new_lease()
        account_key = self.keys.account(account)
        try:
            answer = await self._admit(turn, lease, account, interval_ms, capacity)
        except CoordinationError:
            raise
        except BaseException:
            # Cancelled, perhaps after the script ran: give back what it may have taken
            # now rather than a lease period later.
            with anyio.CancelScope(shield=True):
                await self._give_back(lease, account_key)
            raise
        self.stats.admitted += 1
        self._held[lease] = Lease(account_key, answer.epoch)
        delay = answer.delay_us / 1_000_000
        if delay > 0:
            try:
                await anyio.sleep(delay)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.release(lease)
                raise
        return lease

    async def _admit(
        self, turn: anyio.Lock, lease: str, account: str, interval_ms: float, capacity: int
    ) -> Answer:
        account_wait = _ACCOUNT_POLL
        # The happy path is one script call, concurrent with every other acquire; only a
        # full fleet queues callers behind one local poller (unless one is polling already).
        answer = FULL if turn.locked() else await self._try(lease, account, interval_ms, capacity)
        if answer is not FULL and answer.full:
            self.stats.refused_full += 1
        while not answer.admitted:
            if answer.full:
                queued = anyio.current_time()
                async with turn:
                    if self._failed_at >= queued:
                        # Redis failed while this call queued: fail now, not one timeout
                        # per queued caller later (an unresponsive Redis would add up).
                        raise CoordinationError("Redis failed while this call waited for a slot")
                    answer = await self._poll_full(lease, account, interval_ms, capacity)
                continue
            self.stats.refused_account += 1
            # The holder's lease ends at the latest within its ttl; poll well before.
            ttl = answer.ttl_ms / 1000 if answer.ttl_ms > 0 else account_wait
            await anyio.sleep(min(account_wait, ttl) * (0.5 + random.random()))
            account_wait = min(account_wait * 2, _ACCOUNT_POLL_MAX)
            answer = await self._try(lease, account, interval_ms, capacity)
        return answer

    async def _poll_full(
        self, lease: str, account: str, interval_ms: float, capacity: int
    ) -> Answer:
        """Ask until the fleet has a free slot (a local release wakes this early)."""
        slot_wait = _SLOT_POLL
        while True:
            answer = await self._try(lease, account, interval_ms, capacity)
            if not answer.full:
                return answer
            self.stats.refused_full += 1
            with anyio.move_on_after(slot_wait * (0.5 + random.random())):
                await self._freed.wait()
            slot_wait = min(slot_wait * 2, _SLOT_POLL_MAX)

    async def release(self, lease: str) -> None:
        """Give a lease back; a failure is logged (the lease then simply expires)."""
        held = self._held.pop(lease, None)
        if held is None:
            return
        await self._give_back(lease, held.account_key)
        self._freed.wake()  # after Redis has the slot back, so the local poller finds it

    async def _give_back(self, lease: str, account_key: str) -> None:
        try:
            await self._call(RELEASE, [self.keys.slots, account_key], [lease])
        except CoordinationError as exc:
            log.warning("fleet lease %s not released (%s); it expires on its own", lease, exc)

    async def renew(self) -> int:
        """Renew every lease this process holds, in one call; return how many were re-created."""
        held = list(self._held.items())
        if not held:
            return 0
        keys = [self.keys.slots, self.keys.epoch, *(lease.account_key for _, lease in held)]
        args: list[Any] = [f"{self.lease_seconds * 1000:.3f}", "", self._new_lease()]
        for lease_id, lease in held:
            args += [lease_id, lease.epoch]
        answer = await self._call(RENEW, keys, args)
        restored, epoch = int(answer[0]), text(answer[1])
        for _, lease in held:
            lease.epoch = epoch  # renewed or re-created: now part of the current epoch
        self.stats.renewals += 1
        self.stats.restored += restored
        return restored

    async def _renew_forever(self) -> None:
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                await self.renew()
            except CoordinationError as exc:
                log.warning("fleet leases not renewed (%s); retrying", exc)


@attrs.frozen
class FleetLimits:
    """A client's dialing gate with a coordinator: ``async with limits.admit(account):``."""

    coordinator: RedisCoordinator
    concurrency: int | None = None
    calls_per_second: float | None = None
    instrumentation: Instrumentation = NOOP
    _interval_ms: float = attrs.field(init=False)

    @_interval_ms.default
    def _interval(self) -> float:
        return 0.0 if self.calls_per_second is None else 1000.0 / self.calls_per_second

    def __attrs_post_init__(self) -> None:
        if self.concurrency is not None:
            positive_int("concurrency", self.concurrency)
        if self.calls_per_second is not None:
            positive_rate("calls_per_second", self.calls_per_second)
        if not math.isfinite(self._interval_ms):
            raise RequestValidationError("calls_per_second", "too small", self.calls_per_second)

    @property
    def active(self) -> bool:
        """Always: the fleet holds one request per account even without other budgets."""
        return True

    @asynccontextmanager
    async def admit(self, account: str) -> AsyncIterator[None]:
        """Hold a fleet slot and ``account`` (from its booked start) for the block."""
        coordinator = self.coordinator
        began = anyio.current_time()
        lease = await coordinator.acquire(account, self._interval_ms, self.concurrency or 0)
        self.instrumentation.rate_waited("fleet", anyio.current_time() - began)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await coordinator.release(lease)
