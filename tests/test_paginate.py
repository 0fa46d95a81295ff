"""The generic page walker against fake lists: order, exactly-once, bounds, errors.

Every test runs the one driver both ways: in a task group of the walk's own between
yields (no task group given) and in a task group the test owns (as an entered
AsyncClient's).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

import anyio
import attrs
import pytest
from anyio.abc import TaskGroup

from laaffic_async import PaginationError, TimeRangeError
from laaffic_async._core.paging import Order, OrderTracker
from laaffic_async._paging.walker import Chunk, Fetch, PageLike, walk_pages

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["own_group", "given_group"])
async def tg(request: pytest.FixtureRequest) -> AsyncIterator[TaskGroup | None]:
    if request.param == "own_group":
        yield None
        return
    async with anyio.create_task_group() as group:
        yield group


@attrs.frozen
class Page:
    total: int
    records: list[int]


@attrs.define
class FakeList:
    """Items are ints equal to their stable position (older = smaller); new ones are larger."""

    total: int
    order: Order = Order.NEWEST_FIRST
    grow: int = 0  # items added before every answer after the first
    shrink_at: int | None = None
    short: bool = False
    short_once: set[int] = attrs.field(factory=set)  # pages answered one item short, once
    fail_at: int | None = None
    calls: int = 0
    in_flight: int = 0
    peak: int = 0
    log: list[int] = attrs.field(factory=list)

    async def fetch(self, current: int, size: int) -> PageLike[int]:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for _ in range(3):  # let other fetches start: real concurrency, no timing
                await anyio.lowlevel.checkpoint()
            if self.fail_at is not None and self.calls >= self.fail_at:
                raise TimeRangeError("-25", "Out of time range", endpoint="fake")
            if self.calls > 1:
                self.total += self.grow
            if self.shrink_at is not None and self.calls >= self.shrink_at:
                self.total -= 1
            items = list(range(self.total))
            if self.order is Order.NEWEST_FIRST:
                items.reverse()
            page = items[(current - 1) * size : current * size]
            if (self.short and current > 1) or current in self.short_once:
                self.short_once.discard(current)
                page = page[:-1]
            self.log.append(current)
            return Page(self.total, page)
        finally:
            self.in_flight -= 1


def walk(
    tg: TaskGroup | None, sources: Sequence[Fetch[int]], **options: Any
) -> AsyncGenerator[Chunk[int], None]:
    return walk_pages(sources, task_group=tg, **options)


def expected(total: int, order: Order) -> list[int]:
    items = list(range(total))
    return items[::-1] if order is Order.NEWEST_FIRST else items


async def collect(chunks: AsyncGenerator[Chunk[int], None]) -> list[Chunk[int]]:
    out: list[Chunk[int]] = []
    async with aclosing(chunks) as gen:
        async for chunk in gen:
            out.append(chunk)
    return out


def flat(chunks: Sequence[Chunk[int]]) -> list[int]:
    return [item for chunk in chunks for item in chunk.records]


async def test_static_list_in_order_with_bounded_concurrency(tg: TaskGroup | None) -> None:
    fake = FakeList(1234)
    chunks = await collect(walk(tg, [fake.fetch], size=100, concurrency=4))
    assert flat(chunks) == expected(1234, Order.NEWEST_FIRST)
    assert [c.number for c in chunks] == list(range(1, 14))
    assert {(c.count, c.total, c.source) for c in chunks} == {(13, 1234, 0)}
    assert [c.last for c in chunks] == [False] * 12 + [True]
    assert fake.calls == 13
    assert 1 < fake.peak <= 4


@pytest.mark.parametrize("order", list(Order))
async def test_growing_list_delivers_the_first_total_exactly_once(
    order: Order, tg: TaskGroup | None
) -> None:
    fake = FakeList(2000, order=order, grow=3)
    chunks = await collect(
        walk(tg, [fake.fetch], size=50, concurrency=5, sort_key=lambda item: item)
    )
    assert flat(chunks) == expected(2000, order)
    assert fake.total > 2000
    if order is Order.OLDEST_FIRST:
        assert fake.calls == 40  # appended items never move anything: no refills
    else:
        assert fake.calls > 40  # pages that slid were fetched again


async def test_many_lists_come_out_list_by_list_and_empty_lists_are_seen(
    tg: TaskGroup | None,
) -> None:
    lists = [FakeList(250), FakeList(0), FakeList(30), FakeList(100)]
    chunks = await collect(walk(tg, [f.fetch for f in lists], size=100, concurrency=3))
    assert [(c.source, c.number, c.count) for c in chunks] == [
        (0, 1, 3),
        (0, 2, 3),
        (0, 3, 3),
        (1, 1, 1),
        (2, 1, 1),
        (3, 1, 1),
    ]
    assert chunks[3].records == []
    assert flat(chunks) == [
        *expected(250, Order.NEWEST_FIRST),
        *range(29, -1, -1),
        *range(99, -1, -1),
    ]


async def test_prefetch_bounds_what_is_held_ahead_of_the_consumer(tg: TaskGroup | None) -> None:
    fake = FakeList(5000)
    delivered = 0
    async with aclosing(walk(tg, [fake.fetch], size=10, concurrency=2, prefetch=6)) as gen:
        async for chunk in gen:
            delivered += 1
            assert len(fake.log) - delivered <= 6
            assert chunk.number == delivered
    assert delivered == 500


async def test_a_fetch_error_propagates_unchanged_and_stops_the_round(tg: TaskGroup | None) -> None:
    fake = FakeList(5000, fail_at=7)
    with pytest.raises(TimeRangeError):
        await collect(walk(tg, [fake.fetch], size=100, concurrency=4))
    assert fake.in_flight == 0
    assert fake.calls < 50


async def test_a_shrinking_list_raises_naming_it(tg: TaskGroup | None) -> None:
    fake = FakeList(1000, shrink_at=3)
    with pytest.raises(PaginationError, match=r"slice A: .*shrank"):
        await collect(
            walk(tg, [fake.fetch], size=100, concurrency=2, describe=lambda index: "slice A")
        )


async def test_short_pages_end_in_pagination_error_not_a_hang(tg: TaskGroup | None) -> None:
    fake = FakeList(1000, short=True)
    with pytest.raises(PaginationError, match="still incomplete after 3 extra rounds"):
        await collect(walk(tg, [fake.fetch], size=100, concurrency=2, max_refetch=3))


async def test_breaking_out_leaves_nothing_running(tg: TaskGroup | None) -> None:
    fake = FakeList(10_000)
    async with aclosing(walk(tg, [fake.fetch], size=100, concurrency=8)) as gen:
        async for chunk in gen:
            if chunk.number == 3:
                break
    assert fake.in_flight == 0
    calls = fake.calls
    for _ in range(10):
        await anyio.lowlevel.checkpoint()
    assert fake.calls == calls  # nothing fetches in the background


async def test_order_learned_on_one_walk_is_shared_with_the_next(tg: TaskGroup | None) -> None:
    tracker = OrderTracker()
    await collect(
        walk(
            tg,
            [FakeList(300, order=Order.OLDEST_FIRST).fetch],
            order=tracker,
            sort_key=lambda item: item,
        )
    )
    assert tracker.detected is Order.OLDEST_FIRST


async def test_a_short_page_is_fetched_again_even_page_one(tg: TaskGroup | None) -> None:
    fake = FakeList(450, short_once={1, 3})
    chunks = await collect(walk(tg, [fake.fetch], size=100, concurrency=2))
    assert flat(chunks) == expected(450, Order.NEWEST_FIRST)
    assert fake.calls == 5 + 2


async def test_streaming_fetches_ahead_while_the_consumer_holds_a_chunk() -> None:
    fake = FakeList(5000)
    async with anyio.create_task_group() as group:
        walk = walk_pages([fake.fetch], size=10, concurrency=2, prefetch=6, task_group=group)
        async with aclosing(walk) as gen:
            first = await gen.__anext__()
            assert first.number == 1
            # The consumer does not ask for more; the workers fill the prefetch meanwhile.
            for _ in range(50):
                await anyio.lowlevel.checkpoint()
            assert fake.calls == 1 + 6
            assert fake.in_flight == 0  # and then wait: the bound holds
        assert fake.in_flight == 0
        calls = fake.calls
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert fake.calls == calls


async def test_streaming_says_so_when_its_task_group_is_closed_mid_walk() -> None:
    fake = FakeList(5000)

    async def owner(*, task_status: anyio.abc.TaskStatus[TaskGroup]) -> None:
        # A task group hosted by another task, as an entered AsyncClient's is.
        async with anyio.create_task_group() as group:
            task_status.started(group)
            await anyio.sleep_forever()

    async with anyio.create_task_group() as outer:
        group = await outer.start(owner)
        walk = walk_pages([fake.fetch], size=10, concurrency=2, task_group=group)
        async with aclosing(walk) as gen:
            await gen.__anext__()
            group.cancel_scope.cancel()  # as the client's exit does
            with anyio.fail_after(5), pytest.raises(RuntimeError, match="closed mid-walk"):
                async for _ in gen:
                    pass
        outer.cancel_scope.cancel()
