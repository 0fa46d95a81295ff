"""send_many's machinery: many calls at once, each with its own outcome.

Shape of a running batch (all tasks live in one task group that the
:class:`~laaffic_async.AsyncClient` owns, under a cancel scope per batch)::

    input ──producer──> per-account lanes ──ready──> N workers ──> outcomes ──> consumer
      (lazy, at most          (one call per             (N = concurrency,       (memory stream;
       `lookahead` calls       account in flight;        the only tasks that     the consumer
       read and unfinished)    -68 rests the lane)       send anything)          only reads it)

* The consumer side never owns a task group or cancel scope, so an
  ``async for`` over :func:`stream_outcomes` may ``break`` or be cancelled
  at any yield on asyncio and trio alike: closing it cancels the batch's
  scope (no new call starts; requests in flight are cut off and counted in
  :attr:`BatchProgress.cancelled`, never reported as placed).
* Workers turn every exception of a call into its outcome: one bad call,
  or a bug, never tears down the client's task group.
* A -68 (the account is still on a call; nothing was dialed) puts the call
  back on its lane after a backoff, without a worker waiting for it, until
  ``busy_timeout`` has passed since its first -68.
* Nothing here re-sends a call whose first attempt may have run: that rule
  lives in :meth:`AsyncClient.request`, and an ambiguous failure arrives as
  an :class:`~laaffic_async.errors.OutcomeUnknownError` outcome.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Self

import anyio
import sniffio
from anyio.abc import TaskGroup

from .._core.retry import RetryPolicy
from .._io.instrument import NOOP, Instrumentation
from ..errors import LaafficError, OutcomeUnknownError, RequestValidationError, SipBusyError
from ..models import Call, CallOutcome, PlacedCall
from .batchparts import (
    Item,
    busy_pause,
    progress_and_callback,
    receive,
    reorder,
    sent,
    slot_taken,
    stream_outcomes,
    unexpected,
    waiting,
)
from .lanes import AccountLanes
from .limits import RateLimiter
from .options import BatchOptions
from .progress import BatchProgress

__all__ = ["Batch", "BatchOptions", "BatchProgress", "Send", "stream_outcomes"]

log = logging.getLogger("laaffic_async")

#: What a batch calls to place one call (``AsyncClient.place`` in real use).
Send = Callable[[Call], Awaitable[PlacedCall]]
Calls = Iterable[Call] | AsyncIterable[Call]

# Seconds `async with client.batch(...)` waits at exit for cancelled requests to unwind.
_CLEANUP_SECONDS = 10.0
# The busy backoff grows from busy_delay up to this many times it.
_BUSY_CEILING = 16
# The BatchProgress counts a batch's span carries when it ends.
_COUNTED = ("read", "placed", "failed", "unknown", "busy", "cancelled")


class Batch:
    """A running batch of calls: iterate it for :class:`CallOutcome` values.

    Made by :meth:`AsyncClient.batch`; use it as an async context manager
    for deterministic cleanup::

        async with client.batch(calls, concurrency=50) as outcomes:
            async for outcome in outcomes:
                ...
            print(outcomes.progress.placed)

    Leaving the block stops the batch at once: no new call starts, requests
    in flight are cancelled (counted in ``progress.cancelled``), and the
    exit waits until they have unwound.  If the input raised (a row that
    failed validation, an item that is not a :class:`Call`), the outcomes of
    every call read before it are delivered first, then the error is raised
    from the iteration.
    """

    def __init__(
        self,
        calls: Calls,
        send: Send,
        options: BatchOptions,
        task_group: TaskGroup | None,
        progress: BatchProgress | Callable[[BatchProgress], object] | None = None,
        *,
        instrumentation: Instrumentation = NOOP,
    ) -> None:
        if not isinstance(calls, (Iterable, AsyncIterable)) or isinstance(calls, (str, bytes)):
            raise RequestValidationError("calls", "must be an iterable of Call", calls)
        self.progress, self._on_progress = progress_and_callback(progress)
        self.options = options
        self._calls = calls
        self._send = send
        self._task_group = task_group
        self._instrument = instrumentation
        rate = options.calls_per_second
        self._rate: RateLimiter | None = None
        if rate is not None:
            self._rate = RateLimiter(rate, instrumentation=instrumentation, limiter="batch")
        self._busy_policy = RetryPolicy(
            attempts=1, base_delay=options.busy_delay, max_delay=options.busy_delay * _BUSY_CEILING
        )
        self._scope = anyio.CancelScope()
        self._window = anyio.Semaphore(options.window)
        self._lanes = AccountLanes[Item]() if options.one_per_account else None
        self._read = 0
        self._open = 0
        self._input_done = False
        self._workers = 0
        self._started = False
        self._stopped = False
        self._finished = anyio.Event()
        self._tg: TaskGroup | None = None
        #: An exception to raise from the iteration once the outcomes are drained.
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        p = self.progress
        return f"<Batch read={p.read} placed={p.placed} failed={p.failed} unknown={p.unknown}>"

    # -- the consumer's side -------------------------------------------------------------

    def _start(self) -> None:
        """Start the producer and workers in the owning task group (once)."""
        if self._started:
            return
        if self._task_group is None:
            raise RuntimeError(
                "batching needs the client's task group: use `async with AsyncClient(...) "
                "as client:` before send_many()/batch()"
            )
        # Streams are made here, not in __init__: a batch never started owns nothing to close.
        self._outcomes_in, self._outcomes = anyio.create_memory_object_stream[CallOutcome](
            self.options.concurrency
        )
        # Unbounded but bounded by the window: every item is in exactly one place at a time.
        self._ready_in, self._ready = anyio.create_memory_object_stream[Item](math.inf)
        self._done_in, self._done_out = anyio.create_memory_object_stream[tuple[int, CallOutcome]](
            math.inf
        )
        self._started = True
        self._task_group.start_soon(self._run, name=f"laaffic_async batch {id(self):#x}")

    def stop(self) -> None:
        """Stop now, from any task, without waiting: see the class docstring.

        Synchronous on purpose, so an async generator's ``finally`` (which may
        run in a finalizer task) can call it without awaiting.
        """
        self._stopped = True
        if self._started:
            self._outcomes.close()
        self._scope.cancel()

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._started:
            return
        self.stop()
        # Shielded and bounded: the exit may itself be a cancellation, and the
        # point of this form is that nothing is left running after the block.
        with anyio.move_on_after(_CLEANUP_SECONDS, shield=True):
            await self._finished.wait()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> CallOutcome:
        if not self._started:
            raise RuntimeError("iterate a batch inside `async with client.batch(...) as outcomes:`")
        try:
            outcome = await receive(self._outcomes, self._scope)
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        else:
            # The call's window slot frees when its outcome is taken, not when buffered: at
            # most `lookahead` calls are read and not yet handed to the consumer.
            self._window.release()
            return outcome
        if self.error is not None and not self._stopped:
            error, self.error = self.error, None
            raise error
        raise StopAsyncIteration

    # -- the batch's own tasks -------------------------------------------------------------

    async def _run(self) -> None:
        # Name the event loop in this task's context (a copy: nobody else sees it), which the
        # workers inherit: otherwise every anyio call in them (a cancellation check per call,
        # events, scopes) asks sniffio, which on asyncio re-imports asyncio and looks up the
        # current task each time (1.2% of a fast-extra profile's samples; 0.5% with this).
        sniffio.current_async_library_cvar.set(sniffio.current_async_library())
        completed = False
        options = self.options
        span = self._instrument.operation(
            "laaffic.send_many",
            {
                "laaffic.batch.concurrency": options.concurrency,
                "laaffic.batch.ordered": options.ordered,
            },
        )
        try:
            # Current in the workers too (they copy this task's context): attempts nest under it.
            with self._scope, span.within():
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    tg.start_soon(self._produce)
                    if self.options.ordered:
                        tg.start_soon(reorder, self._done_out, self._deliver)
                    self._workers = self.options.concurrency
                    for _ in range(self.options.concurrency):
                        tg.start_soon(self._work)
                completed = self._input_done and self._open == 0
        except Exception as exc:  # a bug: report it to the consumer, never to the client
            log.exception("batch failed")
            self.error = exc
        finally:
            for stream in (self._ready_in, self._ready, self._done_in, self._done_out):
                stream.close()
            self._outcomes_in.close()
            self.progress.finished_at = time.monotonic()
            if not completed and self.error is None and not self._stopped:
                # Cancelled from outside (the client is closing): never end silently.
                self.error = RuntimeError("the batch was interrupted: its AsyncClient was closed")
            counts = {f"laaffic.batch.{name}": getattr(self.progress, name) for name in _COUNTED}
            span.end(counts, self.error)
            self._finished.set()

    async def _produce(self) -> None:
        calls = self._calls
        is_async = isinstance(calls, AsyncIterable)
        iterator: Any = None
        try:
            iterator = aiter(calls) if is_async else iter(calls)  # type: ignore[arg-type]
            while True:
                # A window slot first, then the next call: never hold one we cannot place.
                if not slot_taken(self._window, self._scope):
                    await self._window.acquire()
                try:
                    call = await anext(iterator) if is_async else next(iterator)
                except (StopIteration, StopAsyncIteration):
                    break
                self._submit(call)
        except Exception as exc:  # the caller's iterator failed: stop reading, drain, report
            self.error = exc
        finally:
            self._input_done = True
            self._close_if_drained()
            if is_async and hasattr(iterator, "aclose"):
                # Close the caller's async generator here, in a task we own, rather
                # than leaving it to a finalizer.
                with anyio.move_on_after(_CLEANUP_SECONDS, shield=True):
                    await iterator.aclose()

    def _submit(self, call: object) -> None:
        if not isinstance(call, Call):
            rule = f"item {self._read} must be a Call, not {type(call).__name__}"
            raise RequestValidationError("calls", rule + "; nothing after it was read", call)
        item = Item(self._read, call)
        self._read += 1
        self.progress.read += 1
        self._open += 1
        if self._lanes is None or self._lanes.admit(call.account, item):
            self._ready_in.send_nowait(item)

    async def _work(self) -> None:
        ready, scope = self._ready, self._scope
        try:
            while True:
                try:
                    item = waiting(ready, scope)  # batchparts.receive, inline
                    if item is None:
                        item = await ready.receive()
                except anyio.EndOfStream:
                    break
                await self._attempt(item)
        finally:
            self._workers -= 1
            if self._workers == 0:
                self._done_in.close()

    async def _attempt(self, item: Item) -> None:
        if self._rate is not None:
            await self._rate.acquire()
        progress = self.progress
        progress.in_flight += 1
        progress.peak_in_flight = max(progress.peak_in_flight, progress.in_flight)
        item.attempts += 1
        call = item.call
        try:
            placed = await self._send(call)
        except SipBusyError as exc:
            progress.busy += 1
            if self._rest(item):
                self._instrument.dial_busy_retried()
                return
            outcome = CallOutcome(call, error=exc, attempts=item.attempts, index=item.index)
        except LaafficError as exc:
            outcome = CallOutcome(call, error=exc, attempts=item.attempts, index=item.index)
        except Exception as exc:
            error = unexpected(call, exc)
            outcome = CallOutcome(call, error=error, attempts=item.attempts, index=item.index)
        except BaseException:
            progress.cancelled += 1
            raise
        else:
            outcome = CallOutcome(
                call, voice_id=placed.voice_id, attempts=item.attempts, index=item.index
            )
        finally:
            progress.in_flight -= 1
        if self._finish(item, outcome) and not self._offer(outcome):
            await self._deliver(outcome)

    def _rest(self, item: Item) -> bool:
        """Put a call refused with -68 back on its lane later; False when out of time."""
        if not self.options.retry_busy or self._stopped or self._tg is None:
            return False
        now = anyio.current_time()
        delay = busy_pause(item, self.options.busy_timeout, self._busy_policy, now)
        if delay is None:
            return False
        self._tg.start_soon(self._requeue, item, delay)
        return True

    async def _requeue(self, item: Item, delay: float) -> None:
        await anyio.sleep(delay)
        self._ready_in.send_nowait(item)

    def _finish(self, item: Item, outcome: CallOutcome) -> bool:
        """Count ``outcome`` and free its lane; True when it goes to the consumer now
        (unordered), False when the reordering task delivers it."""
        self._instrument.dial_outcome(outcome.error)
        progress = self.progress
        if outcome.ok:
            progress.placed += 1
        elif isinstance(outcome.error, OutcomeUnknownError):
            progress.unknown += 1
        else:
            progress.failed += 1
        if self._on_progress is not None:
            try:
                self._on_progress(progress)
            except Exception:
                log.exception("progress callback failed (ignored)")
        if self._lanes is not None:
            waiter = self._lanes.release(item.call.account)
            if waiter is not None:
                self._ready_in.send_nowait(waiter)
        self._open -= 1
        self._close_if_drained()
        if self.options.ordered:
            self._done_in.send_nowait((item.index, outcome))
            return False
        return True

    def _close_if_drained(self) -> None:
        if self._input_done and self._open == 0:
            self._ready_in.close()

    def _offer(self, outcome: CallOutcome) -> bool:
        # To the consumer without waiting (send() yields even with room); False: buffer full.
        try:
            return sent(self._outcomes_in, outcome)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._consumer_gone()
            return True

    async def _deliver(self, outcome: CallOutcome) -> None:
        if self._offer(outcome):
            return
        try:
            await self._outcomes_in.send(outcome)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._consumer_gone()

    def _consumer_gone(self) -> None:
        # The consumer went away: nobody can learn of further outcomes.
        self._stopped = True
        self._scope.cancel()
