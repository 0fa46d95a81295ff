"""Limits shared by many tasks: a concurrency cap and a token-bucket rate limit.

Both work on asyncio and trio (anyio primitives, anyio's clock) and can be
created outside a running event loop, so an :class:`~laaffic_async.AsyncClient`
built at import time of a web service can hold them and every request
handler's ``send_sip`` shares them.
"""

from __future__ import annotations

import math
from types import TracebackType

import anyio

from .._core import validators as v
from .._io.instrument import NOOP, Instrumentation
from ..errors import RequestValidationError

__all__ = ["ConcurrencyLimit", "DialLimits", "RateLimiter"]


def positive_int(field: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` >= 1 (a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestValidationError(field, "must be a positive integer", value)
    return value


def positive_rate(field: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestValidationError(field, "must be a number > 0", value)
    if not math.isfinite(value) or value <= 0:
        raise RequestValidationError(field, "must be a finite number > 0", value)
    return float(value)


class ConcurrencyLimit:
    """At most ``total`` holders at a time, from any number of tasks.

    A semaphore rather than anyio's ``CapacityLimiter``: a limiter ties each
    token to the task holding it, and one task placing calls in a loop
    while another releases would trip it for no benefit here.
    """

    def __init__(self, total: int) -> None:
        self.total = v.concurrency("concurrency", total, v.DIAL_CONCURRENCY_MAX)
        self._semaphore = anyio.Semaphore(self.total)
        self.in_use = 0
        #: The highest ``in_use`` seen, e.g. to check a limit is reached.
        self.peak = 0

    def __repr__(self) -> str:
        return f"ConcurrencyLimit(total={self.total}, in_use={self.in_use})"

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.in_use -= 1
        self._semaphore.release()


class RateLimiter:
    """An async token bucket: at most ``rate`` acquisitions per second.

    Implemented as a virtual schedule (GCRA): each :meth:`acquire` books the
    next free instant and sleeps until it, so waiters are served in arrival
    order without a lock or a refill task, and the spacing stays exact
    however many tasks share the limiter.  ``burst`` acquisitions may go at
    once after an idle spell (default 1: evenly spaced, which is what a
    provider's per-second limit expects).

    Time is anyio's clock (``anyio.current_time``), so it runs on trio too.
    Each wait is reported to ``instrumentation`` under the name ``limiter``.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        instrumentation: Instrumentation = NOOP,
        limiter: str = "client",
    ) -> None:
        self.rate = positive_rate("calls_per_second", rate)
        self.burst = positive_int("burst", burst)
        self._instrument = instrumentation
        self._name = limiter
        self._interval = 1.0 / self.rate
        # The "theoretical arrival time" of the next acquisition; -inf = idle.
        self._next = -math.inf

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, burst={self.burst})"

    async def acquire(self) -> None:
        """Wait until one more acquisition fits in the rate."""
        now = anyio.current_time()
        # An idle bucket fills up to `burst` tokens, never more.
        slot = max(self._next, now - (self.burst - 1) * self._interval)
        self._next = slot + self._interval
        booked = self._next
        if slot <= now:
            self._instrument.rate_waited(self._name, 0.0)
            await anyio.lowlevel.checkpoint()
            return
        try:
            await anyio.sleep_until(slot)
            self._instrument.rate_waited(self._name, slot - now)
        except BaseException:
            # Cancelled while waiting: give the slot back if nobody booked after us,
            # so a stopped batch does not slow the next caller down.
            if self._next == booked:
                self._next -= self._interval
            raise


class DialLimits:
    """The client-wide limits every dialing request passes through.

    ``async with limits:`` waits for a concurrency slot, then for a rate
    token, in that order: taking the token last means the request leaves
    right after it, so the rate seen by the server is the rate configured.
    """

    def __init__(
        self,
        concurrency: int | None = None,
        calls_per_second: float | None = None,
        *,
        instrumentation: Instrumentation = NOOP,
    ):
        self.concurrency = None if concurrency is None else ConcurrencyLimit(concurrency)
        self.rate = (
            None
            if calls_per_second is None
            else RateLimiter(calls_per_second, instrumentation=instrumentation)
        )

    def __repr__(self) -> str:
        return f"DialLimits(concurrency={self.concurrency!r}, rate={self.rate!r})"

    @property
    def active(self) -> bool:
        """Whether any limit is set (if not, entering costs nothing)."""
        return self.concurrency is not None or self.rate is not None

    async def __aenter__(self) -> None:
        if self.concurrency is not None:
            await self.concurrency.__aenter__()
        if self.rate is not None:
            try:
                await self.rate.acquire()
            except BaseException:
                if self.concurrency is not None:
                    await self.concurrency.__aexit__(None, None, None)
                raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.concurrency is not None:
            await self.concurrency.__aexit__(exc_type, exc, tb)
