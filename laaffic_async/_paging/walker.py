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
  totals hold still and assumes newest-first if one moves.  Items of equal
  sort key may come in any order, different on every request (see below).
  Items that *vanish* or move inside the list raise
  :class:`~laaffic_async.errors.PaginationError` rather than being guessed.
* Bounded memory: at most ``prefetch`` chunks are fetched but not yet
  consumed, so memory is O(prefetch * size) plus one group of equal keys,
  however long the lists are.

Equal sort keys (many calls in one second) may be ordered differently on
every request; :mod:`laaffic_async._core.ties` cuts the chunks into groups of
one key, and a group the pages cannot prove whole is read on its own with
``resolve`` (records: one narrow request for that second) before its chunk
is delivered.  A group split between two chunks comes out with the first
(one that covers a whole further chunk, with the chunk that closes it), so a
chunk may hold a few items more or fewer than its page.

How it runs (structured concurrency, asyncio and trio): one driver
------------------------------------------------------------------
The generator never yields inside a task group or cancel scope.  The same
``concurrency`` fetch workers (:class:`~._paging.driver.Driver`) do the fetching,
planning chunks in delivery order up to ``prefetch`` ahead, reading
unresolved groups first.  Given a ``task_group`` that someone else owns (an
entered ``AsyncClient``'s) they live there, in a cancel scope of their own,
for the whole walk, and the generator only waits for the next chunk to
land; closing the generator cancels that scope.  Without one, each wait
opens a task group of the walk's own, runs the workers until the next chunk
is ready and the prefetch budget is spent, lets the requests in flight
finish, and leaves the group before anything is yielded (nothing is in
flight while chunks are handed out: slower, but never a task group held
across a ``yield``).  The first page of every list must be answered before
its other chunks are planned; first pages of later lists are fetched early.

Errors: each ``fetch`` is expected to retry what is safe to retry (the
client does); the first exception a fetch raises stops the fetching and is
raised from the ``async for`` (unchanged, no exception group) once the
chunks before the failed one are delivered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup

from .._core.paging import ChunkFill, OrderTracker, chunk_count
from .._core.ties import GroupScanner, Part, Unresolved, describe_key, settle_group
from ..errors import PaginationError
from .driver import Driver
from .pages import Chunk, Fetch, PageLike, Resolve

__all__ = ["Chunk", "Fetch", "PageLike", "Resolve", "walk_pages"]

T = TypeVar("T")
#: A job: chunk ``(source, index, None)``, or part ``n`` of that chunk: ``(source, index, n)``.
_Job = tuple[int, int, int | None]
#: Reads of one group before a count that keeps changing is an error.
_GROUP_READS = 3


@attrs.define
class _List(Generic[T]):
    fetch: Fetch[T]
    total: int | None = None
    latest: int = 0
    count: int = 0
    scheduled: int = 0
    scanner: GroupScanner[T] | None = None


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
    resolve: Resolve[T] | None = None,
) -> AsyncGenerator[Chunk[T], None]:
    """Yield every chunk of every list in ``sources``, in order (see the module doc).

    * ``size``: page size sent to ``fetch``; ``concurrency``: requests in
      flight at most; ``prefetch``: chunks fetched ahead at most (default
      ``4 * concurrency``; memory is O(prefetch * size) plus one group).
    * ``sort_key``: the item's sort key (a submit time) to learn the
      server's order from; ``identity``: the item's unique id, used to check
      that answers agree (both optional; with both, groups of equal keys
      are checked too).  ``order`` shares what was learned between walks.
    * ``resolve``: reads one key of one list on its own, for groups the
      pages cannot prove whole; without it such a group raises
      :class:`~laaffic_async.errors.PaginationError`, and items added while
      the list is paged are taken to get keys of their own.
    * ``max_refetch``: how many extra rounds a chunk may need while its list
      keeps growing before :class:`~laaffic_async.errors.PaginationError`.
    * ``describe``: names list ``i`` in error messages (``"slice 2 (...)"``).
    * ``task_group``: a running task group the fetch workers may live in
      for the whole walk; without one they run in one of the walk's own,
      between yields.
    """
    walker = _Walker(
        [_List(fetch) for fetch in sources],
        size=size,
        concurrency=concurrency,
        # Two at least: a chunk may wait for the next one before it is delivered.
        prefetch=max(2, prefetch or 4 * concurrency),
        sort_key=sort_key,
        identity=identity,
        order=order or OrderTracker(),
        max_refetch=max_refetch,
        describe=describe or (lambda index: f"list {index}"),
        resolve=resolve,
    )
    if sort_key is not None and identity is not None:
        for walked in walker.lists:
            # Without a way to read a key alone, new items are taken to get keys of their own
            # (ids that grow); with one (records: a second), the newest key may gain items.
            walked.scanner = GroupScanner(sort_key, identity, newest_may_grow=resolve is not None)
    driver = Driver.start(walker, task_group)
    try:
        while True:
            # With workers in someone else's group chunks may always be ready, so this loop may
            # never wait: without a checkpoint of its own a cancelled consumer would run on to
            # the end (on asyncio, a cancel scope only reaches a task that is suspended).
            await anyio.lowlevel.checkpoint_if_cancelled()
            chunk = walker.pop_ready()
            if chunk is not None:
                driver.notify()  # room for one more chunk ahead
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
    resolve: Resolve[T] | None
    #: Chunks that landed but wait for an earlier one before they are cut into groups.
    landed: dict[tuple[int, int], list[T]] = attrs.field(factory=dict)
    #: Chunks cut into parts; delivered once no part is unresolved.
    held: dict[tuple[int, int], list[Part[T]]] = attrs.field(factory=dict)
    groups: deque[_Job] = attrs.field(factory=deque)
    cursor: tuple[int, int] = (0, 0)
    scanned: tuple[int, int] = (0, 0)
    in_flight: int = 0

    @property
    def finished(self) -> bool:
        return self.cursor[0] >= len(self.lists)

    def ready(self) -> bool:
        parts = self.held.get(self.cursor)
        return parts is not None and not any(isinstance(p, Unresolved) for p in parts)

    def pop_ready(self) -> Chunk[T] | None:
        if self.finished or not self.ready():
            return None
        source, index = self.cursor
        parts = self.held.pop(self.cursor)
        items: list[T] = []
        for part in parts:
            assert not isinstance(part, Unresolved)
            items = part if not items else items + part
        walked = self.lists[source]
        assert walked.total is not None
        self.cursor = _next(self.cursor, walked.count)
        return Chunk(source, index + 1, walked.count, walked.total, items)

    @property
    def planned(self) -> bool:
        """True once every chunk of every list is scheduled and no group waits for a read."""
        done = all(w.total is not None and w.scheduled >= w.count for w in self.lists)
        return done and not self.groups

    def plan(self, limit: int) -> list[_Job]:
        """Up to ``limit`` jobs: group reads first (they unblock delivery), then chunks in
        delivery order within the prefetch budget."""
        jobs: list[_Job] = []
        while self.groups and len(jobs) < limit:
            jobs.append(self.groups.popleft())
        # A chunk that waits for its neighbour (its last second may continue there) counts too.
        waiting = sum(1 for w in self.lists if w.scanner is not None and w.scanner.home)
        budget = self.prefetch - len(self.held) - len(self.landed) - self.in_flight - waiting
        budget = min(limit - len(jobs), budget)
        if budget <= 0:
            return jobs
        for source in range(self.cursor[0], len(self.lists)):
            walked = self.lists[source]
            if walked.total is None:
                # Its other chunks are unknown until page 1 answers; later lists may start.
                if walked.scheduled == 0:
                    jobs.append((source, 0, None))
                    walked.scheduled = 1
                    budget -= 1
            else:
                while walked.scheduled < walked.count and budget > 0:
                    jobs.append((source, walked.scheduled, None))
                    walked.scheduled += 1
                    budget -= 1
            if budget <= 0:
                break
        return jobs

    async def run(self, job: _Job) -> None:
        source, index, part = job
        self.in_flight += 1
        try:
            if part is None:
                self.landed[source, index] = await self._chunk(source, index)
                self._scan()
            else:
                await self._group(source, index, part)
        finally:
            self.in_flight -= 1

    def _scan(self) -> None:
        """Cut the landed chunks into groups, in list order (a group may span chunks)."""
        while self.scanned in self.landed:
            source, index = key = self.scanned
            items = self.landed.pop(key)
            walked = self.lists[source]
            self.scanned = _next(key, walked.count)
            if walked.scanner is None:
                self.held[key] = [items]
                continue
            grown = walked.latest != walked.total
            last = index + 1 == walked.count
            for done, parts in walked.scanner.feed(index, items, last=last, grown=grown):
                for number, part in enumerate(parts):
                    if isinstance(part, Unresolved):
                        if self.resolve is None:
                            raise PaginationError(
                                f"{self.describe(source)}: {describe_key(part.key)}: pages "
                                "disagree on which items share it, and it cannot be read on its own"
                            )
                        self.groups.append((source, done, number))
                self.held[source, done] = parts or [[]]

    async def _group(self, source: int, index: int, number: int) -> None:
        parts = self.held[source, index]
        group = parts[number]
        assert isinstance(group, Unresolved)
        assert self.resolve is not None
        assert self.sort_key is not None
        assert self.identity is not None
        try:
            for _ in range(_GROUP_READS):
                total, items = await self.resolve(source, group.key, group.seen)
                settled = settle_group(
                    group, total, items, sort_key=self.sort_key, identity=self.identity
                )
                if settled is not None:
                    parts[number] = settled
                    return
            why = (
                "the newest second kept filling while it was read in parts"
                if group.volatile
                else "a past second whose count keeps changing"
            )
            raise PaginationError(
                f"{describe_key(group.key)}: held {group.expected} item(s) when the list was "
                f"first seen, then {total} on {_GROUP_READS} reads of its own: {why} cannot "
                "be delivered exactly once"
            )
        except PaginationError as exc:
            raise PaginationError(f"{self.describe(source)}: {exc}") from exc

    async def _page(self, source: int, current: int) -> PageLike[T]:
        walked = self.lists[source]
        page = await walked.fetch(current, self.size)
        if self.sort_key is not None:
            self.order.observe([self.sort_key(item) for item in page.records])
        walked.latest = max(walked.latest, page.total)
        return page

    def _fill(self, total: int, index: int) -> ChunkFill[T]:
        return ChunkFill(total, index, self.size, self.identity, self.sort_key)

    async def _chunk(self, source: int, index: int) -> list[T]:
        walked = self.lists[source]
        try:
            if index == 0:
                # Page 1 defines the list's target: the items it counts now.
                page = await self._page(source, 1)
                walked.total = walked.latest = page.total
                walked.count = chunk_count(page.total, self.size)
                fill = self._fill(page.total, 0)
                fill.add(page.total, 1, page.records)
                pages = fill.pages_for_missing(self.order.order, walked.latest)  # short page 1?
            else:
                assert walked.total is not None
                fill = self._fill(walked.total, index)
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


def _next(key: tuple[int, int], count: int) -> tuple[int, int]:
    source, index = key
    return (source + 1, 0) if index + 1 >= count else (source, index + 1)
