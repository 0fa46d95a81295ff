"""The receiver's moving part: handing spooled events to the handler.

:class:`Dispatcher` runs the handler for each event this worker holds, at
most ``concurrency`` at a time, and retries failures with capped exponential
backoff until the handler returns; then the event is marked done in the
spool at once.  ``held`` has the keys this worker leased (queued, running or
waiting to retry), so an event is never given to two handler calls at once;
a keeper renews their leases every third of ``lease`` seconds, and a started
receiver also claims events from the spool (taken over from workers that
died, or, on Redis, new ones admitted by any replica).

Everything here lives in one event loop and one receiver session.
"""

from __future__ import annotations

import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

import anyio
import attrs
from anyio.abc import TaskGroup

from .._core.pushes import ParsedPush
from .._core.retry import RetryPolicy, backoff_delay
from .._io.instrument import NOOP, Instrumentation
from ..events import PushEvent
from .attempts import retry_loop
from .spool import PRUNE_INTERVAL, Spool

__all__ = ["Counters", "Dispatcher", "PushStats"]

log = logging.getLogger("laaffic_async.webhooks")

Handler = Callable[[PushEvent], Awaitable[None]]


@attrs.define
class Counters:
    """A receiver's running totals, across its sessions."""

    received: int = 0
    duplicates: int = 0
    rejected: int = 0
    handled: int = 0
    retried: int = 0
    taken_over: int = 0


@attrs.frozen
class PushStats:
    """This process's totals since its receiver was created.

    Per process: with several workers or replicas, add theirs up.
    ``received``: events acknowledged and spooled as new; ``duplicates``:
    events dropped as redeliveries (seen by any worker); ``rejected``:
    requests refused with a 4xx; ``handled``: handler calls that returned;
    ``retried``: handler calls that raised (each is called again);
    ``taken_over``: events this process took from another worker whose
    lease had expired or who released them at shutdown; ``backlog``: events
    this process holds and has not yet handled.
    """

    received: int
    duplicates: int
    rejected: int
    handled: int
    retried: int
    taken_over: int
    backlog: int


class Dispatcher:
    """Hands held events to the handler: once each, retried until it returns.

    ``serve()`` runs in the background for a started receiver; a receiver
    nobody started serves from the request that brought the events
    (``until_idle=True``), after its answer was sent, and gives an event
    ``inline_attempts`` tries before leaving it for the next push or restart.
    """

    def __init__(
        self,
        handler: Handler,
        spool: Spool,
        *,
        counters: Counters,
        concurrency: int,
        retry: RetryPolicy,
        lease: float,
        clock: Callable[[], float],
        inline_attempts: int = 3,
        rng: random.Random | None = None,
        instrumentation: Instrumentation = NOOP,
    ) -> None:
        self.handler = handler
        self.instrumentation = instrumentation
        self.spool = spool
        self.retry = retry
        self.inline_attempts = inline_attempts
        self.counters = counters
        self.concurrency = concurrency
        self.lease = lease
        self.clock = clock
        self.held: set[str] = set()
        # Handled, but the spool could not be told yet (outage): retried by the keeper.
        self._undone: set[str] = set()
        self._queue: deque[ParsedPush] = deque()
        # Events given up on by an inline host, waiting for the next one.
        self._parked: list[ParsedPush] = []
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._rng = rng or random.Random()
        self._wake = anyio.Event()
        self._stop = anyio.Event()
        self._active = 0
        self.hosted = False

    @property
    def backlog(self) -> int:
        """Events held and not yet done (queued, running or waiting to retry)."""
        return len(self.held)

    @property
    def poll(self) -> float:
        """Seconds between looks for work to take over (a quarter lease, at most 1 s)."""
        return min(self.lease / 4, 1.0)

    def intake(self, pushes: Iterable[ParsedPush], *, taken: bool = False) -> None:
        """Queue events leased to this worker (``taken``: from another worker)."""
        for push in pushes:
            if push.key not in self.held:
                self.held.add(push.key)
                self._queue.append(push)
                self.counters.taken_over += taken
        if self._queue:
            self._wake.set()

    def stop(self) -> None:
        """Start no more handler calls; retries waiting for their turn give up."""
        self._stop.set()
        self._wake.set()

    async def serve(self, *, until_idle: bool) -> None:
        """Run handler calls until cancelled or (``until_idle``) idle.

        While serving, leases are renewed; serving in the background also
        claims work from the spool.
        """
        self.hosted = True
        try:
            async with anyio.create_task_group() as chores:
                chores.start_soon(self._keep)
                if not until_idle:
                    chores.start_soon(self._claim)
                if until_idle:
                    self._queue.extend(self._parked)
                    self._parked.clear()
                while True:
                    async with anyio.create_task_group() as tg:
                        await self._serve(tg, until_idle)
                    # Events queued while the task group was closing need a host too.
                    if not (until_idle and self._queue and not self._stop.is_set()):
                        break
                chores.cancel_scope.cancel()
        finally:
            self.hosted = False

    async def _serve(self, tg: TaskGroup, until_idle: bool) -> None:
        while True:
            while self._queue and not self._stop.is_set():
                self._active += 1
                tg.start_soon(self._deliver, self._queue.popleft(), until_idle)
            if self._active == 0 and (until_idle or self._stop.is_set()):
                return
            self._wake = anyio.Event()
            await self._wake.wait()

    async def _claim(self) -> None:
        failing = False
        while not self._stop.is_set():
            room = 2 * self.concurrency - len(self.held)
            if room <= 0:
                await anyio.sleep(self.poll)
                continue
            try:
                got = await self.spool.claim(self.clock(), room, self.poll)
            except Exception:
                # Once per outage, not once per poll.
                level = logging.DEBUG if failing else logging.WARNING
                log.log(level, "could not claim pushes from the spool; retrying", exc_info=True)
                failing = True
                await anyio.sleep(self.poll)
                continue
            if failing:
                log.warning("claiming pushes from the spool again")
                failing = False
            self.intake(got.fresh)
            self.intake(got.taken, taken=True)

    async def _keep(self) -> None:
        last_purge = self.clock()
        while True:
            await anyio.sleep(self.lease / 3)
            try:
                if self._undone:
                    undone = set(self._undone)
                    await self.spool.done(undone, self.clock())
                    self._undone -= undone
                    self.held -= undone
                if self.held:
                    await self.spool.renew(set(self.held), self.clock())
                if self.clock() - last_purge >= PRUNE_INTERVAL:
                    last_purge = self.clock()
                    await self.spool.purge(last_purge)
            except Exception:
                log.warning("could not renew push leases; retrying", exc_info=True)

    async def settle(self) -> None:
        """At stop: record what was handled, and release every other held event."""
        with anyio.CancelScope(shield=True):
            try:
                if self._undone:
                    await self.spool.done(set(self._undone), self.clock())
                    self.held -= self._undone
                    self._undone.clear()
                if self.held:
                    await self.spool.release(set(self.held))
            except Exception:
                log.warning("could not release push leases (they expire)", exc_info=True)

    async def _deliver(self, push: ParsedPush, inline: bool) -> None:
        try:
            await retry_loop(functools.partial(self._attempt, push, inline), stop=self._stop)
        finally:
            self._active -= 1
            self._wake.set()

    async def _attempt(self, push: ParsedPush, inline: bool, attempt: int) -> float | None:
        """One handler call; the backoff before the next, or None once handled or parked.

        An event whose wait is cut short by stop stays pending in the spool: released at stop.
        """
        try:
            async with self._limiter:
                kind = type(push.event).__name__
                with self.instrumentation.push_handling(kind, attempt):
                    await self.handler(push.event)
        except Exception:
            self.counters.retried += 1
            if inline and attempt >= self.inline_attempts:
                log.exception(
                    "push handler failed for %s (attempt %d); kept in the spool for "
                    "the next push or restart",
                    push.key,
                    attempt,
                )
                self._parked.append(push)  # stays held: only a host re-queues it
                return None
            delay = backoff_delay(self.retry, attempt, self._rng.random())
            log.exception(
                "push handler failed for %s (attempt %d); retrying in %.1f s",
                push.key,
                attempt,
                delay,
            )
            return delay
        self.counters.handled += 1
        await self._mark_done(push)
        return None

    async def _mark_done(self, push: ParsedPush) -> None:
        try:
            await self.spool.done((push.key,), self.clock())
        except Exception:
            # The handler ran: keep the event held (its lease renewed) and tell the spool later.
            log.exception("could not mark push %s done in the spool; will retry", push.key)
            self._undone.add(push.key)
            return
        self.held.discard(push.key)
