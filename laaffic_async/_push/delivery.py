"""The receiver's moving parts: group-committing spool writes, and handing events out.

:class:`SpoolWriter` batches the spool operations of concurrent requests into
one transaction: the first request to take the lock writes everything queued
so far, the others find their work done when they get the lock.  Under load
that is one disk flush per batch instead of one per push.

:class:`Dispatcher` runs the handler for each new event, at most
``concurrency`` at a time, and retries failures with capped exponential
backoff until the handler returns; only then is the event marked done in the
spool.  ``claimed`` holds the keys handed out in this session, so an event
is never given to two handler calls at once.

Everything here lives in one event loop and one receiver session.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

import anyio
import attrs
from anyio.abc import TaskGroup

from .._core.pushes import ParsedPush
from .._core.retry import RetryPolicy, backoff_delay
from .._io.instrument import NOOP, Instrumentation
from ..events import PushEvent
from .spool import Op, Spool

__all__ = ["Counters", "Dispatcher", "PushStats", "SpoolWriter"]

log = logging.getLogger("laaffic_async.webhooks")

Handler = Callable[[PushEvent], Awaitable[None]]


@attrs.define
class Counters:
    """A receiver's running totals, across its sessions."""

    received: int = 0
    duplicates: int = 0
    rejected: int = 0
    delivered: int = 0
    failures: int = 0


@attrs.frozen
class PushStats:
    """A receiver's totals since it was created.

    ``received``: events acknowledged and spooled; ``duplicates``: events
    dropped as redeliveries; ``rejected``: requests refused with a 4xx;
    ``delivered``: handler calls that returned; ``failures``: handler calls
    that raised (each retried); ``backlog``: events acknowledged and not yet
    handled in the running session.
    """

    received: int
    duplicates: int
    rejected: int
    delivered: int
    failures: int
    backlog: int


class SpoolWriter:
    """Serialises spool operations and commits concurrent ones together."""

    def __init__(
        self,
        spool: Spool,
        clock: Callable[[], float],
        after: Callable[[Sequence[Op]], None],
    ) -> None:
        self.spool = spool
        self._clock = clock
        # Called with each applied batch while the lock is still held (the dispatcher's intake).
        self._after = after
        self._queue: list[Op] = []
        self._lock = anyio.Lock()

    async def submit(self, kind: Literal["record", "done", "load"], **fields: object) -> Op:
        """Apply one operation (with whatever else is queued); raises the spool's error."""
        op = Op(kind, **fields)  # type: ignore[arg-type]
        self._queue.append(op)
        async with self._lock:
            if not op.finished:
                batch, self._queue = self._queue, []
                # Shielded: once the batch is written its events must reach the dispatcher,
                # or a cancelled request would leave them recorded but never handed out.
                with anyio.CancelScope(shield=True):
                    try:
                        if self.spool.blocking:
                            await anyio.to_thread.run_sync(self.spool.apply, batch, self._clock())
                        else:
                            self.spool.apply(batch, self._clock())
                    except BaseException as exc:
                        # Never let a waiter take an unwritten op for a written one.
                        for other in batch:
                            if not other.finished:
                                other.error = RuntimeError(f"spool write failed: {exc!r}")
                                other.finished = True
                        raise
                    self._after(batch)
        if op.error is not None:
            raise op.error
        return op

    async def close(self) -> None:
        """Close the spool once every queued operation is written."""
        async with self._lock:
            if self.spool.blocking:
                await anyio.to_thread.run_sync(self.spool.close)
            else:
                self.spool.close()


class Dispatcher:
    """Hands spooled events to the handler: once each, retried until it returns.

    ``serve()`` runs in the background for a started receiver; a receiver
    nobody started serves from the request that brought the events
    (``until_idle=True``), after its answer was sent, and gives an event
    ``inline_attempts`` tries before leaving it for the next push or restart.
    """

    def __init__(
        self,
        handler: Handler,
        writer: SpoolWriter,
        *,
        counters: Counters,
        concurrency: int,
        retry: RetryPolicy,
        inline_attempts: int = 3,
        rng: random.Random | None = None,
        instrumentation: Instrumentation = NOOP,
    ) -> None:
        self.handler = handler
        self.instrumentation = instrumentation
        self.writer = writer
        self.retry = retry
        self.inline_attempts = inline_attempts
        self.counters = counters
        self.claimed: set[str] = set()
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
        """Events claimed and not yet done (queued, running or waiting to retry)."""
        return len(self.claimed)

    def intake(self, ops: Sequence[Op]) -> None:
        """Queue the new events of applied spool operations (the writer's ``after``)."""
        for op in ops:
            if op.error is not None or op.kind == "done":
                continue
            for push in op.result:
                if push.key not in self.claimed:
                    self.claimed.add(push.key)
                    self._queue.append(push)
        if self._queue:
            self._wake.set()

    def stop(self) -> None:
        """Start no more handler calls; retries waiting for their turn give up."""
        self._stop.set()
        self._wake.set()

    async def serve(self, *, until_idle: bool) -> None:
        """Run handler calls as events arrive, until cancelled or (``until_idle``) idle."""
        self.hosted = True
        try:
            if until_idle:
                self._queue.extend(self._parked)
                self._parked.clear()
            while True:
                async with anyio.create_task_group() as tg:
                    await self._serve(tg, until_idle)
                # Events queued while the task group was closing need a host too.
                if not (until_idle and self._queue and not self._stop.is_set()):
                    break
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

    async def _deliver(self, push: ParsedPush, inline: bool) -> None:
        try:
            attempt = 0
            while True:
                attempt += 1
                try:
                    async with self._limiter:
                        kind = type(push.event).__name__
                        with self.instrumentation.push_handling(kind, attempt):
                            await self.handler(push.event)
                except Exception:
                    self.counters.failures += 1
                    if inline and attempt >= self.inline_attempts:
                        log.exception(
                            "push handler failed for %s (attempt %d); kept in the spool for "
                            "the next push or restart",
                            push.key,
                            attempt,
                        )
                        self._parked.append(push)  # stays claimed: only a host re-queues it
                        return
                    delay = backoff_delay(self.retry, attempt, self._rng.random())
                    log.exception(
                        "push handler failed for %s (attempt %d); retrying in %.1f s",
                        push.key,
                        attempt,
                        delay,
                    )
                    with anyio.move_on_after(delay):
                        await self._stop.wait()
                    if self._stop.is_set():
                        return  # still pending in the spool: the next start delivers it
                    continue
                self.counters.delivered += 1
                await self._mark_done(push)
                return
        finally:
            self._active -= 1
            self._wake.set()

    async def _mark_done(self, push: ParsedPush) -> None:
        try:
            await self.writer.submit("done", key=push.key)
        except Exception:
            # The handler ran; the spool still says pending, so a restart runs it again.
            # Keep the key claimed so this session does not.
            log.exception("could not mark push %s done in the spool", push.key)
            return
        self.claimed.discard(push.key)
