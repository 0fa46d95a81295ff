"""Deadlines: every in-flight attempt's deadline on one clock tick, not three timers each.

aiohttp arms up to three timers per request (the whole request, waiting for a connection
plus connecting, and a read timer re-armed on every packet); with a pool full of small
calls they were about a tenth of the ``fast`` extra's CPU per call
(``benchmarks/bench_dial.py``). :class:`Deadlines` keeps a dict of the attempts in flight
and one loop timer that looks at them every ``tick`` while any are: registering and
forgetting an attempt is two dict operations.

An attempt has two deadlines, as ``PooledTransport.exchange`` has:

* while it waits for a pooled connection or connects: ``pool + connect`` seconds from its
  start. Nothing has been sent then, so running out raises ``httpx.ConnectTimeout``
  (safe to retry, even a dial);
* once connected (:meth:`Watch.connected`): ``total`` seconds for the whole answer. The
  request may have left, so running out raises ``httpx.ReadTimeout``.

A deadline ends an attempt the way ``asyncio.timeout`` does: the sweep cancels the task and
marks the watch; :meth:`Watch.expired` then takes that cancellation back
(``Task.uncancel``) and the caller raises the timeout instead. A cancellation from anywhere
else (a cancel scope, a task group) is never swallowed. A deadline fires up to one tick
late: the tick is a tenth of the shortest limit seen, at most 1 s (aiohttp itself rounds
limits of 5 s and more up to whole seconds) and at least 5 ms.

asyncio only, as the ``fast`` extra is.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadlines", "Watch"]

# Bounds of the sweep interval (seconds).
_MAX_TICK = 1.0
_MIN_TICK = 0.005


class Watch:
    """One attempt's deadlines (loop time); made by :meth:`Deadlines.watch`."""

    __slots__ = ("_cancelling", "_taken", "deadline", "fired", "phase", "task", "total")

    def __init__(self, task: asyncio.Task[object], deadline: float | None, total: float | None):
        self.task = task
        #: When the sweep ends this attempt (loop time); None: not while in this phase.
        self.deadline = deadline
        #: Seconds allowed once connected.
        self.total = total
        #: ``"connect"`` until :meth:`connected`, then ``"answer"``.
        self.phase = "connect"
        #: Set by the sweep: ``"connect"`` or ``"answer"``, the phase that ran out.
        self.fired: str | None = None
        self._cancelling = task.cancelling()
        self._taken = False

    def connected(self, now: float) -> None:
        """The attempt holds a connection: from now on, ``total`` seconds for the answer."""
        self.phase = "answer"
        self.deadline = None if self.total is None else now + self.total

    def expired(self) -> str | None:
        """After a ``CancelledError``: the phase that ran out if the sweep caused it, else None.

        Takes the sweep's cancellation back (once; later calls return None); a cancellation
        from elsewhere (still counted on the task after that) wins, and None says to let the
        ``CancelledError`` through.
        """
        if self.fired is None or self._taken:
            return None
        self._taken = True
        if self.task.uncancel() > self._cancelling:
            return None
        return self.fired


class Deadlines:
    """The attempts in flight on one event loop, swept every ``tick`` while there are any."""

    def __init__(self) -> None:
        self._watched: dict[asyncio.Task[object], Watch] = {}
        self._tick = _MAX_TICK
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._watched)

    def watch(self, connect: float | None, total: float | None) -> Watch:
        """Start watching the current task's attempt: ``connect`` s to hold a connection."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - only called from a task
            raise RuntimeError("Deadlines.watch needs a running task")
        loop = self._loop
        if loop is None:
            loop = self._loop = task.get_loop()
        now = loop.time()
        for limit in (connect, total):
            if limit is not None and limit / 10 < self._tick:
                self._tick = max(_MIN_TICK, limit / 10)
        watch = Watch(task, None if connect is None else now + connect, total)
        self._watched[task] = watch
        if self._handle is None:
            self._handle = loop.call_at(now + self._tick, self._sweep)
        return watch

    def connected(self) -> None:
        """The current task's attempt holds a connection (what the connector reports)."""
        task = asyncio.current_task()
        watch = None if task is None else self._watched.get(task)
        if watch is not None:
            watch.connected(self.now())

    def now(self) -> float:
        """The clock the deadlines are on."""
        assert self._loop is not None
        return self._loop.time()

    def forget(self, watch: Watch) -> None:
        """Stop watching (the attempt ended, however it ended)."""
        if self._watched.get(watch.task) is watch:
            del self._watched[watch.task]

    def close(self) -> None:
        """Stop the sweep (the transport is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._watched.clear()

    def _sweep(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for watch in self._watched.values():
            deadline = watch.deadline
            if deadline is not None and now >= deadline and watch.fired is None:
                watch.fired = watch.phase
                watch.task.cancel()
        self._handle = self._loop.call_at(now + self._tick, self._sweep) if self._watched else None
