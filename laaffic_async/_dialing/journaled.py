"""A journaled send_many run: replay what is final, reconcile what is not, dial the rest once.

Shape (every task in one task group, under one cancel scope per run)::

    input ──reader──> journal lookup (per chunk) ──┬─ final: replayed outcome ───────────┐
                                                   ├─ in flight/unknown: reconcile ──┐  │
                                                   └─ new/unplaced: dial ─> Batch ───┤  ├─> outcomes
                                                               ^                     │  │
                                                               └── not placed, redial┘  │
                                                                   placed / failed ─────┘

* The batch engine (:mod:`.batch`) does the dialing; its ``send`` is
  wrapped so each attempt is marked in the journal, and that mark is
  committed, before the request leaves, and its outcome written after.
* An unknown outcome, or a row left in flight by a crash, is reconciled
  against the call records before the run may end; a call found absent is
  dialed again (``redial_unplaced``) or reported with
  :class:`~laaffic_async.errors.NotPlacedError`.
* Each ref of the input gets exactly one outcome per run.  Memory holds
  only the calls not yet finished (bounded by the batch's look-ahead, plus
  calls being reconciled).
"""

from __future__ import annotations

import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
)
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..errors import (
    JournalError,
    LaafficError,
    NotPlacedError,
    OutcomeUnknownError,
    ReconcileError,
    RequestValidationError,
    SipBusyError,
)
from ..models import Call, CallOutcome, PlacedCall
from .batch import Batch, BatchOptions, BatchProgress, Send
from .batchparts import items, send
from .limits import DialGate
from .reconcile import FetchPage, check_settle, reconcile_call

if TYPE_CHECKING:
    from ..journal import DialJournal, JournalEntry

__all__ = ["JournaledRun"]

log = logging.getLogger("laaffic_async")

# Input calls looked up in the journal per thread hop.
_CHUNK = 256


@attrs.define(eq=False)
class _Pending:
    index: int
    attempts: int


def _ref(call: Call) -> str:
    assert call.ref is not None  # checked when read
    return call.ref


def _check_ref(position: int, call: object) -> Call:
    if not isinstance(call, Call):
        rule = f"item {position} must be a Call, not {type(call).__name__}"
        raise RequestValidationError("calls", rule, call)
    if not call.ref:
        rule = f"is required with a journal (item {position} has none): calls are keyed by it"
        raise RequestValidationError("ref", rule, call)
    return call


class JournaledRun:
    """One ``send_many(..., journal=...)`` run; iterate :meth:`outcomes` (see the module)."""

    def __init__(
        self,
        calls: Iterable[Call] | AsyncIterable[Call],
        *,
        journal: DialJournal,
        place: Send,
        limits: DialGate,
        fetch: FetchPage,
        now: Callable[[], float],
        options: BatchOptions,
        task_group: TaskGroup | None,
        redial_unplaced: bool,
        settle: float,
        progress: BatchProgress | Callable[[BatchProgress], object] | None = None,
    ) -> None:
        from ..journal import DialJournal  # the journal's module imports nothing of ours back

        if not isinstance(journal, DialJournal):
            raise RequestValidationError("journal", "must be a DialJournal", journal)
        if not isinstance(redial_unplaced, bool):
            rule = "must be True or False"
            raise RequestValidationError("redial_unplaced", rule, redial_unplaced)
        if not isinstance(calls, (Iterable, AsyncIterable)) or isinstance(calls, (str, bytes)):
            raise RequestValidationError("calls", "must be an iterable of Call", calls)
        if options.ordered:
            rule = "is not supported with a journal: match outcomes by index or ref"
            raise RequestValidationError("ordered", rule, options.ordered)
        if task_group is None:
            raise RuntimeError("send_many() needs the client entered: `async with AsyncClient()`")
        self._calls = calls
        self._journal = journal
        self._place = place
        self._limits = limits
        self._fetch = fetch
        self._settle_seconds = check_settle(settle)
        self._now = now
        self._options = options
        self._task_group = task_group
        self._redial = redial_unplaced
        self._progress = progress
        self._pending: dict[str, _Pending] = {}
        # Refs finished since the current chunk was looked up (its answer may be stale for them).
        self._recent: set[str] = set()
        self._open = 0
        self._input_done = False
        self._scope = anyio.CancelScope()
        self._stopped = False
        self._tg: TaskGroup | None = None
        #: An exception to raise from the iteration once the outcomes are drained.
        self.error: BaseException | None = None

    async def outcomes(self) -> AsyncIterator[CallOutcome]:
        """Start the run and yield its outcomes; closing the iteration stops the run."""
        self._out_in, out = anyio.create_memory_object_stream[CallOutcome](
            self._options.concurrency
        )
        self._dial_in, self._dial_out = anyio.create_memory_object_stream[Call](
            self._options.concurrency
        )
        self._journal.claim()
        try:
            self._task_group.start_soon(
                self._run, name=f"laaffic_async journaled run {id(self):#x}"
            )
            async for outcome in items(out, self._scope):
                yield outcome
            if self.error is not None:
                raise self.error
        finally:
            # Synchronous on purpose (like stream_outcomes): safe from a finalizer too.
            # The run's own task releases the journal once nothing of it runs.
            self._stopped = True
            out.close()
            self._scope.cancel()

    async def _run(self) -> None:
        completed = False
        try:
            with self._scope:
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    batch = Batch(self._dial_input(), self._send, self._options, tg, self._progress)
                    tg.start_soon(self._read_input)
                    tg.start_soon(self._drain, batch)
            completed = self._input_done and self._open == 0
        except Exception as exc:  # a bug or a broken journal: report it to the consumer
            log.exception("journaled run failed")
            while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]  # the task group's wrapping tells the user nothing
            self.error = self.error or exc
        finally:
            if not completed and self.error is None and not self._stopped:
                # Cancelled from outside (the client is closing): never end silently.
                self.error = RuntimeError("the run was interrupted: its AsyncClient was closed")
            self._out_in.close()
            self._dial_in.close()
            self._journal.release()

    # -- input: replay, reconcile or dial ------------------------------------------------

    async def _read_input(self) -> None:
        # A puller reads the caller's input into a small buffer; this task takes whatever
        # is there (up to a chunk) per journal lookup.  So a slow input (a queue) is dialed
        # as it arrives, and a fast one costs one thread hop per chunk, not per call.
        feed_in, feed_out = anyio.create_memory_object_stream[Call](_CHUNK)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pull, feed_in)
                try:
                    await self._admit_chunks(feed_out)
                except Exception as exc:  # a duplicate ref, or the journal failed: drain, report
                    self.error = self.error or exc
                    tg.cancel_scope.cancel()
        finally:
            self._input_done = True
            self._close_if_done()

    async def _pull(self, feed: MemoryObjectSendStream[Call]) -> None:
        calls = self._calls
        is_async = isinstance(calls, AsyncIterable)
        iterator: Any = None
        try:
            iterator = aiter(calls) if is_async else iter(calls)  # type: ignore[arg-type]
            position = 0
            while True:
                try:
                    item = await anext(iterator) if is_async else next(iterator)
                except (StopIteration, StopAsyncIteration):
                    break
                await send(feed, _check_ref(position, item), self._scope)
                position += 1
        except Exception as exc:  # the caller's input failed, or a ref is missing: stop reading
            self.error = self.error or exc
        finally:
            feed.close()
            if is_async and hasattr(iterator, "aclose"):
                # Close the caller's async generator here, in a task we own.
                with anyio.move_on_after(10, shield=True):
                    await iterator.aclose()

    async def _admit_chunks(self, feed: MemoryObjectReceiveStream[Call]) -> None:
        position = 0
        async with feed:
            async for first in items(feed, self._scope):
                chunk = [first]
                while len(chunk) < _CHUNK:
                    try:
                        chunk.append(feed.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                self._recent.clear()
                entries = await self._journal.lookup(_ref(call) for call in chunk)
                for call in chunk:
                    ref = _ref(call)
                    entry = entries.get(ref)
                    if ref in self._recent:  # a duplicate ref that finished meanwhile
                        entry = await self._journal.entry(ref)
                    await self._admit(call, position, entry)
                    position += 1
                self._recent.clear()

    async def _admit(self, call: Call, index: int, entry: JournalEntry | None) -> None:
        ref = _ref(call)
        if ref in self._pending:
            raise RequestValidationError("ref", "appears twice in the input", ref)
        self._open += 1
        attempts = 0 if entry is None else entry.attempts
        self._pending[ref] = _Pending(index, attempts)
        if entry is None or (entry.state == "unplaced" and self._redial):
            await send(self._dial_in, call, self._scope)
            return
        replay = entry.as_outcome(call, replayed=True)
        if isinstance(replay.error, OutcomeUnknownError):
            # In flight when a run died, or unknown: the records decide, before any redial.
            self._start_reconcile(call, replay.error)
        else:
            await self._emit(call, voice_id=replay.voice_id, error=replay.error, replayed=True)

    async def _dial_input(self) -> AsyncIterator[Call]:
        async for call in items(self._dial_out, self._scope):
            yield call

    # -- each attempt, run by the batch's workers -------------------------------------------

    async def _send(self, call: Call) -> PlacedCall:
        try:
            return await self._journaled_send(call)
        except JournalError as exc:
            # Without a journal no promise holds: stop the run and say so.
            self.error = self.error or exc
            self._scope.cancel()
            raise

    async def _journaled_send(self, call: Call) -> PlacedCall:
        ref = _ref(call)
        pending = self._pending[ref]
        async with self._limits.admit(call.account):
            sent_at = self._now()
            await self._journal.mark_sent(call, sent_at)  # durable before the request can leave
            pending.attempts += 1
            try:
                placed = await self._place(call)
            except OutcomeUnknownError as exc:
                if exc.sent_at is None:
                    exc.sent_at = datetime.fromtimestamp(sent_at, UTC)
                await self._journal.mark_outcome(ref, "unknown", error=str(exc))
                raise
            except SipBusyError as exc:  # -68: nothing was dialed
                await self._journal.mark_outcome(ref, "unplaced", error=str(exc))
                raise
            except LaafficError as exc:
                await self._journal.mark_outcome(
                    ref, "failed", error=f"{type(exc).__name__}: {exc}"
                )
                raise
            except Exception:
                await self._journal.mark_outcome(ref, "unknown", error="unexpected error")
                raise
            await self._journal.mark_outcome(ref, "placed", voice_id=placed.voice_id)
            return placed

    async def _drain(self, batch: Batch) -> None:
        async with batch:
            async for outcome in batch:
                call = outcome.call
                error = outcome.error
                if isinstance(error, OutcomeUnknownError):
                    if error.sent_at is None:  # not from _send (a bug path): use the mark's time
                        entry = await self._journal.entry(_ref(call))
                        error.sent_at = entry.sent_at if entry else None
                    self._start_reconcile(call, error)
                else:
                    await self._emit(call, voice_id=outcome.voice_id, error=error)

    # -- reconciliation and redial ----------------------------------------------------------

    def _start_reconcile(self, call: Call, unknown: OutcomeUnknownError) -> None:
        assert self._tg is not None
        self._tg.start_soon(self._settle, call, unknown)

    async def _settle(self, call: Call, unknown: OutcomeUnknownError) -> None:
        ref = _ref(call)
        try:
            if unknown.sent_at is None:
                raise ReconcileError("no time of sending is known", request=call)
            # Records of other rows to the same person are theirs, not this call's.
            exclude = await self._journal.voice_ids(call.callee, call.account, other_than=ref)
            result = await reconcile_call(
                call,
                unknown.sent_at,
                settle=self._settle_seconds,
                fetch=self._fetch,
                now=self._now,
                exclude=exclude,
            )
        except ReconcileError as exc:
            await self._journal.mark_outcome(ref, "unknown", error=str(exc))
            still = OutcomeUnknownError(
                f"{unknown}; {exc}", endpoint="voice/sendSip", request=call, sent_at=unknown.sent_at
            )
            still.__cause__ = exc
            await self._emit(call, error=still)
            return
        if result.placed:
            await self._journal.mark_outcome(ref, "placed", voice_id=result.voice_id)
            await self._emit(call, voice_id=result.voice_id)
            return
        reason = "no call record by sent_at + settle"
        await self._journal.mark_outcome(ref, "unplaced", error=reason)
        if self._redial:
            await send(self._dial_in, call, self._scope)
        else:
            await self._emit(call, error=NotPlacedError(reason, request=call))

    # -- output --------------------------------------------------------------------------

    async def _emit(
        self,
        call: Call,
        *,
        voice_id: str | None = None,
        error: LaafficError | None = None,
        replayed: bool = False,
    ) -> None:
        ref = _ref(call)
        pending = self._pending.pop(ref)
        if not self._input_done:
            self._recent.add(ref)
        outcome = CallOutcome(
            call,
            voice_id=voice_id,
            error=error,
            attempts=max(pending.attempts, 1),
            index=pending.index,
            replayed=replayed,
        )
        self._open -= 1
        self._close_if_done()
        try:
            await send(self._out_in, outcome, self._scope)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._scope.cancel()  # the consumer went away

    def _close_if_done(self) -> None:
        if self._input_done and self._open == 0:
            self._dial_in.close()
