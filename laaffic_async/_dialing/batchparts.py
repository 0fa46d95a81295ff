"""The parts of :class:`~laaffic_async._dialing.batch.Batch` around its tasks.

What flows through a batch (:class:`Item`), how its streams are read and written without an
extra trip round the event loop (:func:`receive`, :func:`send`, :func:`items`; the journaled
run uses them too), the outcome of an exception the SDK did not raise on purpose
(:func:`unexpected`), the reordering of outcomes for ``ordered=True`` (:func:`reorder`), and
the async generator behind ``send_many`` (:func:`stream_outcomes`).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.retry import RetryPolicy, backoff_delay
from ..errors import OutcomeUnknownError, RequestValidationError
from ..models import Call, CallOutcome
from .progress import BatchProgress

if TYPE_CHECKING:
    from .batch import Batch

__all__ = [
    "Item",
    "busy_pause",
    "items",
    "progress_and_callback",
    "receive",
    "reorder",
    "send",
    "sent",
    "slot_taken",
    "stream_outcomes",
    "unexpected",
    "waiting",
]

T = TypeVar("T")


async def receive(stream: MemoryObjectReceiveStream[T], scope: anyio.CancelScope) -> T:
    """The next item, without a trip round the event loop when one is already waiting.

    ``receive()`` always yields to the loop first (a checkpoint), even with items buffered:
    with three hops per call that was a tenth of send_many's CPU (``benchmarks/bench_dial.py``).
    Once ``scope`` is cancelled the checkpoint is taken, so a stopped batch stops here.
    For streams that never carry None (see :func:`waiting`).
    """
    item = waiting(stream, scope)
    return item if item is not None else await stream.receive()


def waiting(stream: MemoryObjectReceiveStream[T], scope: anyio.CancelScope) -> T | None:
    """:func:`receive`'s part that does not wait: the item already there, else None (also
    once ``scope`` is cancelled). For streams that never carry None; the batch's hot loops
    call it inline, sparing a coroutine per call; ``EndOfStream`` when closed and empty."""
    if scope.cancel_called:
        return None
    try:
        return stream.receive_nowait()
    except anyio.WouldBlock:
        return None


def slot_taken(semaphore: anyio.Semaphore, scope: anyio.CancelScope) -> bool:
    """A slot of ``semaphore`` taken without waiting (True); False: ``acquire()`` it, which
    yields to the loop even when one is free (and, once ``scope`` is cancelled, stops)."""
    if scope.cancel_called:
        return False
    try:
        semaphore.acquire_nowait()
    except anyio.WouldBlock:
        return False
    return True


async def send(stream: MemoryObjectSendStream[T], item: T, scope: anyio.CancelScope) -> None:
    """:func:`receive`'s other half: no trip round the loop when the buffer has room."""
    if scope.cancel_called or not sent(stream, item):
        await stream.send(item)


def sent(stream: MemoryObjectSendStream[T], item: T) -> bool:
    """:func:`send`'s part that does not wait: True once ``item`` is in the buffer, False
    when it is full (``send()`` it then); closed or broken streams raise as ``send()`` does."""
    try:
        stream.send_nowait(item)
    except anyio.WouldBlock:
        return False
    return True


async def items(stream: MemoryObjectReceiveStream[T], scope: anyio.CancelScope) -> AsyncIterator[T]:
    """``async for`` over ``stream`` through :func:`receive`, until it ends."""
    while True:
        try:
            item = await receive(stream, scope)
        except anyio.EndOfStream:
            return
        yield item


@attrs.define(eq=False)
class Item:
    """One call read from the input, with its place in it and its attempts so far."""

    index: int
    call: Call
    attempts: int = 0
    busy_since: float | None = None
    busy_retries: int = 0


def busy_pause(item: Item, busy_timeout: float, policy: RetryPolicy, now: float) -> float | None:
    """Seconds until a call refused with -68 goes back on its lane; None once ``busy_timeout``
    has passed since its first -68 (``now`` on the event loop's clock)."""
    if item.busy_since is None:
        item.busy_since = now
    deadline = item.busy_since + busy_timeout
    if now >= deadline:
        return None
    item.busy_retries += 1
    return min(backoff_delay(policy, item.busy_retries, random.random()), deadline - now)


def progress_and_callback(
    progress: BatchProgress | Callable[[BatchProgress], object] | None,
) -> tuple[BatchProgress, Callable[[BatchProgress], object] | None]:
    """The batch's ``progress=``: the counters to update, and the callback to call, if any."""
    if progress is None or isinstance(progress, BatchProgress):
        return (progress if progress is not None else BatchProgress()), None
    if callable(progress):
        return BatchProgress(), progress
    raise RequestValidationError("progress", "must be a BatchProgress or a callable", progress)


def unexpected(call: Call, exc: Exception) -> OutcomeUnknownError:
    """The error of a call that failed with an exception the SDK does not raise on purpose."""
    # We cannot tell whether the body left, so the only honest report is "unknown", never
    # "not placed".
    error = OutcomeUnknownError(
        f"unexpected {type(exc).__name__}: {exc}", endpoint="voice/sendSip", request=call
    )
    error.__cause__ = exc
    return error


async def reorder(
    done: MemoryObjectReceiveStream[tuple[int, CallOutcome]],
    deliver: Callable[[CallOutcome], Awaitable[None]],
) -> None:
    """Deliver the ``(index, outcome)`` pairs of ``done`` in input order."""
    waiting: dict[int, CallOutcome] = {}
    expected = 0
    async for index, outcome in done:
        waiting[index] = outcome
        while expected in waiting:
            await deliver(waiting.pop(expected))
            expected += 1


async def stream_outcomes(batch: Batch) -> AsyncIterator[CallOutcome]:
    """The async generator behind ``send_many``: start ``batch``, yield its outcomes.

    It only reads from the batch's memory stream; its ``finally`` stops the
    batch synchronously, so it is safe whether the consumer breaks, is
    cancelled, or drops the generator to a finalizer.
    """
    batch._start()
    try:
        async for outcome in batch:
            yield outcome
    finally:
        batch.stop()
