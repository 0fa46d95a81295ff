"""Where acknowledged pushes wait until a handler has run: the spool protocol.

A receiver may be one process, several worker processes on one host, or
replicas on several hosts.  They agree through the spool, which offers the
few operations of a leased work queue (:class:`Spool`):

* ``admit``: record new events and drop redeliveries, atomically (two
  workers given the same push at once admit it once) and durably before the
  push is acknowledged;
* ``claim``: hand out work: events nobody holds, including those whose
  holder's lease expired (a worker that died);
* ``renew``: extend the lease on events a worker still holds (queued or
  running), so nobody takes them over;
* ``done``: the handler returned; the key stays to recognise redeliveries;
* ``release``: a worker stops without running some events: others may take
  them at once;
* ``purge``: forget keys older than the dedupe window.

Local spools (a sqlite file, or memory) are synchronous *stores* applying a
batch of :class:`Op` in one transaction; :class:`LocalSpool` runs them off
the event loop and commits the operations of concurrent requests together
(one disk flush per batch, not per push).  ``laaffic_async.fleet.RedisSpool``
implements the protocol over Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Literal, Protocol

import anyio
import attrs

from .._core.pushes import ParsedPush

__all__ = ["PRUNE_INTERVAL", "Claimed", "LocalSpool", "Op", "OpKind", "Spool", "Store"]

#: Pruning runs at most this often (seconds of the receiver's clock).
PRUNE_INTERVAL = 60.0

OpKind = Literal["admit", "claim", "renew", "done", "release", "purge"]


@attrs.frozen
class Claimed:
    """What ``claim`` handed out: ``fresh`` events, and ``taken`` from another worker."""

    fresh: Sequence[ParsedPush] = ()
    taken: Sequence[ParsedPush] = ()


class Spool(Protocol):
    """The operations a receiver needs from its spool (see the module docs).

    Each coroutine returns once its effect is durable, and raises if it is
    not (the receiver then answers 503 rather than acknowledge).
    """

    #: True when ``admit`` leases new events to the admitting worker itself;
    #: otherwise they reach some worker through ``claim``.
    owns_admitted: bool

    async def open(self, *, worker: str, lease: float, window: float) -> None:
        """Start a session as ``worker``: leases last ``lease`` s, keys ``window`` s."""

    async def admit(self, pushes: Sequence[ParsedPush], now: float) -> list[ParsedPush]:
        """Record ``pushes``; return those that were new (the rest are redeliveries)."""

    async def claim(self, now: float, limit: int, wait: float) -> Claimed:
        """Lease up to ``limit`` events; with none, return after about ``wait`` s."""

    async def renew(self, keys: Collection[str], now: float) -> None:
        """Extend this worker's lease on ``keys``."""

    async def done(self, keys: Collection[str], now: float) -> None:
        """Mark ``keys`` handled."""

    async def release(self, keys: Collection[str]) -> None:
        """Give up the lease on ``keys`` (not handled) so any worker may take them."""

    async def purge(self, now: float) -> None:
        """Forget handled keys older than the dedupe window."""

    async def close(self) -> None:
        """End the session (pending events stay for the next one)."""


@attrs.define(eq=False)
class Op:
    """One operation of a batch; the store fills ``result`` (or ``error``) in place.

    ``admit``: ``result`` is the new ones of ``pushes``; ``claim``: ``result``
    is up to ``limit`` events taken over; the others act on ``keys``.
    """

    kind: OpKind
    pushes: Sequence[ParsedPush] = ()
    keys: Collection[str] = ()
    limit: int = 0
    result: list[ParsedPush] = attrs.field(factory=list)
    error: BaseException | None = None
    finished: bool = False


class Store(Protocol):
    """A synchronous spool applying batches of :class:`Op` (sqlite, memory)."""

    #: True when ``apply`` blocks (disk I/O) and must run in a worker thread.
    blocking: bool

    def open(self, worker: str, lease: float) -> None: ...
    def apply(self, ops: Sequence[Op], now: float) -> None: ...
    def close(self) -> None: ...


def finish(ops: Sequence[Op], error: BaseException | None) -> None:
    """Mark every op of a batch finished (failed with ``error`` if given)."""
    for op in ops:
        if error is not None:
            op.result = []
        op.error = error
        op.finished = True


class LocalSpool:
    """:class:`Spool` over a :class:`Store`, committing concurrent operations together.

    The first caller to take the lock applies everything queued so far in
    one transaction; the others find their work done when they get the lock.
    """

    owns_admitted = True

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self._clock = clock
        self._queue: list[Op] = []
        self._lock = anyio.Lock()
        self._last_prune = float("-inf")

    def __repr__(self) -> str:
        return f"LocalSpool({self.store!r})"

    async def _run(self, call: Callable[..., object], *args: object) -> None:
        if self.store.blocking:
            await anyio.to_thread.run_sync(call, *args)
        else:
            call(*args)

    async def open(self, *, worker: str, lease: float, window: float) -> None:
        """Open the store for ``worker`` (its window was set when it was made)."""
        await self._run(self.store.open, worker, lease)

    async def submit(self, op: Op) -> Op:
        """Apply ``op`` (with whatever else is queued); raises the store's error."""
        self._queue.append(op)
        async with self._lock:
            if not op.finished:
                batch, self._queue = self._queue, []
                now = self._clock()
                if now - self._last_prune >= PRUNE_INTERVAL:
                    self._last_prune = now
                    batch.append(Op("purge"))
                # Shielded: a cancelled request must not leave its batch half known.
                with anyio.CancelScope(shield=True):
                    try:
                        await self._run(self.store.apply, batch, now)
                    except BaseException as exc:
                        # Never let a waiter take an unwritten op for a written one.
                        finish(
                            [o for o in batch if not o.finished],
                            RuntimeError(f"spool write failed: {exc!r}"),
                        )
                        raise
        if op.error is not None:
            raise op.error
        return op

    async def admit(self, pushes: Sequence[ParsedPush], now: float) -> list[ParsedPush]:
        """Record ``pushes``, leased to this worker; return the new ones."""
        return (await self.submit(Op("admit", pushes=pushes))).result

    async def claim(self, now: float, limit: int, wait: float) -> Claimed:
        """Take over up to ``limit`` events whose lease expired (or was released)."""
        taken = (await self.submit(Op("claim", limit=limit))).result
        if not taken:
            # New events reach their admitting worker directly: only takeovers are polled.
            await anyio.sleep(wait)
        return Claimed(taken=taken)

    async def renew(self, keys: Collection[str], now: float) -> None:
        """Extend this worker's lease on ``keys``."""
        await self.submit(Op("renew", keys=keys))

    async def done(self, keys: Collection[str], now: float) -> None:
        """Mark ``keys`` handled."""
        await self.submit(Op("done", keys=keys))

    async def release(self, keys: Collection[str]) -> None:
        """Let any worker take ``keys`` at once."""
        await self.submit(Op("release", keys=keys))

    async def purge(self, now: float) -> None:
        """Forget handled keys older than the window."""
        await self.submit(Op("purge"))

    async def close(self) -> None:
        """Close the store once every queued operation is written."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                await self._run(self.store.close)
