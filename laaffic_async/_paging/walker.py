"""The concurrent page walker: every item of one or more paged lists, exactly once, in order.

Generic over the endpoint: a list is any ``fetch(current, size)`` coroutine
function returning something with ``.total`` and ``.records``
(:class:`PageLike`), such as :class:`~laaffic_async.models.RecordPage`.
The call-center paginators and the record paginator
(:mod:`laaffic_async._paging.records`, which adds time slicing) are built on it::

    async def fetch(current: int, size: int) -> GroupPage:
        return await client.group_page(current=current, size=size)

    async for chunk in walk_pages([fetch], size=100, concurrency=4):
        for group in chunk.records:
            ...

What it guarantees
------------------
* Order: chunks come out list by list, chunk by chunk (chunk ``k`` is what
  page ``k`` held when the list was first seen), whatever order the fetches
  finish in.
* Exactly once for a list that grows at one end while it is walked: the
  items that existed when its first page was answered come out once each;
  items added later are not delivered (a later walk sees them).  How:
  :mod:`laaffic_async._core.paging`.  Which end new items join is learned
  from ``sort_key`` (newest-first assumed until a page shows otherwise);
  without a ``sort_key`` the walker still delivers exactly once while
  totals hold still and assumes newest-first if one moves.  Items that
  *vanish* or move inside the list raise
  :class:`~laaffic_async.errors.PaginationError` rather than being guessed.
* Bounded memory: at most ``prefetch`` chunks are fetched but not yet
  consumed, so memory is O(prefetch * size) however long the lists are.

How it runs (structured concurrency, asyncio and trio)
------------------------------------------------------
The generator never yields inside a task group or cancel scope.  Given a
``task_group`` that someone else owns (an entered ``AsyncClient``'s), it
*streams*: ``concurrency`` fetch workers run there in a cancel scope of
their own, keep ``prefetch`` chunks planned ahead in delivery order, and
the generator only waits for the next chunk to land; closing the generator
cancels that scope.  Without one it works in *rounds*: when the next chunk
is not ready, it opens a task group, fetches up to ``prefetch`` chunks,
leaves the group when all are done, then yields them, so nothing runs
between two steps.  Rounds cost throughput (no request is in flight while
a round's chunks are handed out, and a round's last requests run with
fewer beside them); streaming keeps ``concurrency`` requests in flight.
The first page of every list must be answered before its other chunks are
planned; first pages of later lists are fetched early, alongside an
earlier list's chunks.

Errors: each ``fetch`` is expected to retry what is safe to retry (the
client does); the first exception a fetch raises stops the fetching and is
raised from the ``async for`` (unchanged, no exception group) once the
chunks before the failed one are delivered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup

from .._core.paging import ChunkFill, OrderTracker, chunk_count
from ..errors import PaginationError

__all__ = ["Chunk", "Fetch", "PageLike", "walk_pages"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class PageLike(Protocol[T_co]):
    """What a ``fetch`` returns: the list's current ``total`` and one page of ``records``."""

    @property
    def total(self) -> int:
        """How many items the list holds at the moment of this answer."""
        ...

    @property
    def records(self) -> Sequence[T_co]:
        """The items of the page asked for, in the server's order."""
        ...


#: ``fetch(current, size)``: page ``current`` (1-based) of ``size`` items.
Fetch = Callable[[int, int], Awaitable[PageLike[T]]]


@attrs.frozen
class Chunk(Generic[T]):
    """One delivered chunk: what page ``number`` of list ``source`` held when first seen.

    ``total`` is the list's size at its first page (the items this walk
    delivers), ``count`` its number of chunks (at least one: an empty list
    yields one empty chunk, so every list is seen).
    """

    source: int
    number: int
    count: int
    total: int
    records: list[T]

    @property
    def last(self) -> bool:
        """True for the list's final chunk."""
        return self.number == self.count


@attrs.define
class _List(Generic[T]):
    fetch: Fetch[T]
    total: int | None = None
    latest: int = 0
    count: int = 0
    scheduled: int = 0


async def walk_pages(
    sources: Sequence[Fetch[T]],
    *,
    size: int = 100,
    concurrency: int = 4,
    prefetch: int | None = None,
    sort_key: Callable[[T], Any] | None = None,
    identity: Callable[[T], Hashable] | None = None,
    order: OrderTracker | None = None,
    max_refetch: int = 8,
    describe: Callable[[int], str] | None = None,
    task_group: TaskGroup | None = None,
) -> AsyncGenerator[Chunk[T], None]:
    """Yield every chunk of every list in ``sources``, in order (see the module doc).

    * ``size``: page size sent to ``fetch``; ``concurrency``: requests in
      flight at most; ``prefetch``: chunks fetched ahead at most (default
      ``4 * concurrency``; memory is O(prefetch * size)).
    * ``sort_key``: the item's sort key (a submit time) to learn the
      server's order from; ``identity``: the item's unique id, used to check
      that answers agree (both optional).  ``order`` shares what was learned
      between walks (lists of one endpoint page the same way).
    * ``max_refetch``: how many extra rounds a chunk may need while its list
      keeps growing before :class:`~laaffic_async.errors.PaginationError`.
    * ``describe``: names list ``i`` in error messages (``"slice 2 (...)"``).
    * ``task_group``: a running task group the fetch workers may live in
      (streaming); without one, chunks are fetched in rounds.
    """
    walker = _Walker(
        [_List(fetch) for fetch in sources],
        size=size,
        concurrency=concurrency,
        prefetch=prefetch or 4 * concurrency,
        sort_key=sort_key,
        identity=identity,
        order=order or OrderTracker(),
        max_refetch=max_refetch,
        describe=describe or (lambda index: f"list {index}"),
    )
    driver = _Rounds(walker) if task_group is None else _Pump.start(walker, task_group)
    try:
        while True:
            # With streaming the workers keep chunks ready, so this loop may never wait:
            # without a checkpoint of its own a cancelled consumer would run on to the end (on
            # asyncio, a cancel scope only reaches a task that is suspended and not yet woken).
            await anyio.lowlevel.checkpoint_if_cancelled()
            chunk = walker.pop_ready()
            if chunk is not None:
                driver.took()
                yield chunk
            elif walker.finished:
                return
            else:
                await driver.wait()
    finally:
        await driver.close()


@attrs.define
class _Walker(Generic[T]):
    lists: list[_List[T]]
    size: int
    concurrency: int
    prefetch: int
    sort_key: Callable[[T], Any] | None
    identity: Callable[[T], Hashable] | None
    order: OrderTracker
    max_refetch: int
    describe: Callable[[int], str]
    held: dict[tuple[int, int], list[T]] = attrs.field(factory=dict)
    cursor: tuple[int, int] = (0, 0)
    in_flight: int = 0

    @property
    def finished(self) -> bool:
        return self.cursor[0] >= len(self.lists)

    def pop_ready(self) -> Chunk[T] | None:
        if self.finished or self.cursor not in self.held:
            return None
        source, index = self.cursor
        items = self.held.pop(self.cursor)
        walked = self.lists[source]
        assert walked.total is not None
        self.cursor = (source + 1, 0) if index + 1 >= walked.count else (source, index + 1)
        return Chunk(source, index + 1, walked.count, walked.total, items)

    @property
    def planned(self) -> bool:
        """True once every chunk of every list is scheduled."""
        return all(w.total is not None and w.scheduled >= w.count for w in self.lists)

    def plan(self, limit: int | None = None) -> list[tuple[int, int]]:
        """The next chunks to fetch, in delivery order, within the prefetch budget.

        Rounds (no ``limit``) always get at least one; streaming asks for up
        to ``limit`` and gets none while ``prefetch`` chunks are held or in flight.
        """
        budget = self.prefetch - len(self.held) - self.in_flight
        budget = max(1, budget) if limit is None else min(limit, budget)
        if budget <= 0:
            return []
        jobs: list[tuple[int, int]] = []
        for source in range(self.cursor[0], len(self.lists)):
            walked = self.lists[source]
            if walked.total is None:
                # Its other chunks are unknown until page 1 answers; later lists may start.
                if walked.scheduled == 0:
                    jobs.append((source, 0))
                    walked.scheduled = 1
            else:
                while walked.scheduled < walked.count and len(jobs) < budget:
                    jobs.append((source, walked.scheduled))
                    walked.scheduled += 1
            if len(jobs) >= budget:
                break
        return jobs

    async def fetch(self, key: tuple[int, int]) -> None:
        self.in_flight += 1
        try:
            self.held[key] = await self._chunk(*key)
        finally:
            self.in_flight -= 1

    async def _page(self, source: int, current: int) -> PageLike[T]:
        walked = self.lists[source]
        page = await walked.fetch(current, self.size)
        if self.sort_key is not None:
            self.order.observe([self.sort_key(item) for item in page.records])
        walked.latest = max(walked.latest, page.total)
        return page

    async def _chunk(self, source: int, index: int) -> list[T]:
        walked = self.lists[source]
        try:
            if index == 0:
                # Page 1 defines the list's target: the items it counts now.
                page = await self._page(source, 1)
                walked.total = walked.latest = page.total
                walked.count = chunk_count(page.total, self.size)
                fill: ChunkFill[T] = ChunkFill(page.total, 0, self.size, self.identity)
                fill.add(page.total, 1, page.records)
                pages = fill.pages_for_missing(self.order.order, walked.latest)  # short page 1?
            else:
                assert walked.total is not None
                fill = ChunkFill(walked.total, index, self.size, self.identity)
                pages = [index + 1]
                if walked.latest != walked.total:
                    # The list already grew: ask where the chunk's positions are now.
                    pages = fill.pages_for_missing(self.order.order_for_mapping(), walked.latest)
            for _ in range(self.max_refetch + 1):
                if not pages:
                    order = self.order.order_for_mapping() if fill.moved else self.order.order
                    return fill.items(order)
                for current in pages:
                    page = await self._page(source, current)
                    fill.add(page.total, current, page.records)
                order = self.order.order_for_mapping() if fill.moved else self.order.order
                pages = fill.pages_for_missing(order, walked.latest)
            if not pages:
                return fill.items(order)
        except PaginationError as exc:
            raise PaginationError(f"{self.describe(source)}: {exc}") from exc
        raise PaginationError(
            f"{self.describe(source)}: chunk {index + 1} still incomplete after "
            f"{self.max_refetch} extra rounds (the list grows faster than it can be paged, "
            "or the server answers short pages)"
        )


@attrs.define
class _Rounds(Generic[T]):
    """Rounds mode: when the next chunk is not ready, fetch a round and wait for all of it."""

    walker: _Walker[T]

    def took(self) -> None:
        pass

    async def wait(self) -> None:
        walker = self.walker
        # A fetch need not yield to the event loop (an in-process transport, a cache), and
        # trio delivers cancellation only at checkpoints: make sure every round has one.
        await anyio.lowlevel.checkpoint()
        jobs = deque(walker.plan())
        failures: list[BaseException] = []

        async def worker(group: TaskGroup) -> None:
            while jobs:
                key = jobs.popleft()
                try:
                    await walker.fetch(key)
                except Exception as exc:  # the first failure ends the round
                    failures.append(exc)
                    group.cancel_scope.cancel()
                    return

        async with anyio.create_task_group() as group:
            for _ in range(min(walker.concurrency, len(jobs))):
                group.start_soon(worker, group)
        if failures:
            raise failures[0]

    async def close(self) -> None:
        pass  # nothing runs between two rounds


@attrs.define
class _Pump(Generic[T]):
    """Streaming mode: fetch workers in someone else's task group, under a scope of ours."""

    walker: _Walker[T]
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    failure: Exception | None = None
    started: bool = False
    stopped: bool = False
    _event: anyio.Event = attrs.field(factory=anyio.Event)

    @classmethod
    def start(cls, walker: _Walker[T], task_group: TaskGroup) -> _Pump[T]:
        pump = cls(walker)
        task_group.start_soon(pump.run)
        return pump

    def took(self) -> None:
        self.notify()  # room for one more chunk ahead

    async def wait(self) -> None:
        """Until a chunk lands; raises what stopped the workers, if something did."""
        if self.failure is not None:
            raise self.failure
        if self.stopped:
            raise RuntimeError("the task group paging ran in was closed mid-walk")
        await self.changed()

    async def close(self) -> None:
        # Stop the workers and wait for them (shielded: this also runs when cancelled), so
        # that no request of this walk is in flight once the generator is closed.
        self.scope.cancel()
        if self.started:
            with anyio.CancelScope(shield=True):
                while not self.stopped:
                    await self.changed()

    def notify(self) -> None:
        """Wake whoever waits: a chunk landed, a job failed, or the consumer made room."""
        self._event.set()
        self._event = anyio.Event()

    async def changed(self) -> None:
        await self._event.wait()

    async def run(self) -> None:
        if self.scope.cancel_called:
            return  # closed before this task got to run: nothing to stop, nobody waits
        self.started = True
        try:
            with self.scope:
                async with anyio.create_task_group() as group:
                    for _ in range(self.walker.concurrency):
                        group.start_soon(self._worker)
        finally:
            self.stopped = True
            self.notify()

    async def _worker(self) -> None:
        walker = self.walker
        while True:
            jobs = walker.plan(limit=1)
            if not jobs:
                if walker.planned:
                    return
                await self.changed()  # a page 1 answered, or the consumer took a chunk
                continue
            try:
                await walker.fetch(jobs[0])
            except Exception as exc:
                # Never into the owner's task group: the consumer raises it.
                self.failure = self.failure or exc
                self.scope.cancel()
                return
            finally:
                self.notify()
