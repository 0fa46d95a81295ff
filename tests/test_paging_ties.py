"""Property tests: the page walker over a fake server that orders equal keys at random per request.

The fake holds items ``(second, id, account)``, pages them newest first with
the items of one second shuffled afresh on every request (as ``ORDER BY
submitTime DESC LIMIT/OFFSET`` without a tiebreaker may), and may add items
at the newest end before any request.  Whatever the record set, page size,
concurrency, prefetch and task-group mode, the walk either raises
:class:`PaginationError` or delivers every item that existed at the start
exactly once (plus, at most, some added meanwhile), newest first: never a
wrong set.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laaffic_async import PaginationError
from laaffic_async._core.ties import GroupScanner, Unresolved, settle_group
from laaffic_async._paging.walker import PageLike, walk_pages


@attrs.frozen
class Item:
    second: int
    id: int
    account: int


@attrs.frozen
class Page:
    total: int
    records: list[Item]


def second_of(item: Item) -> int:
    return item.second


def id_of(item: Item) -> int:
    return item.id


@attrs.define
class TieShufflingServer:
    """Newest first, ties in a fresh random order per request, inserts at the newest end."""

    items: list[Item]
    rng: random.Random
    insert_rate: float = 0.0
    max_checkpoints: int = 3
    next_id: int = 0
    requests: int = 0
    inserted: list[Item] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        self.next_id = len(self.items)

    def _maybe_insert(self) -> None:
        if self.rng.random() >= self.insert_rate:
            return
        newest = max((item.second for item in self.items), default=0)
        second = newest + self.rng.choice([0, 0, 1])  # often in the newest second itself
        for _ in range(self.rng.randint(1, 3)):
            item = Item(second, self.next_id, self.rng.randrange(5))
            self.next_id += 1
            self.items.append(item)
            self.inserted.append(item)

    def _ordered(self, items: Sequence[Item]) -> list[Item]:
        keyed = [(-item.second, self.rng.random(), item) for item in items]
        keyed.sort(key=lambda entry: (entry[0], entry[1]))
        return [item for _, _, item in keyed]

    async def _pause(self) -> None:
        for _ in range(self.rng.randint(0, self.max_checkpoints)):
            await anyio.lowlevel.checkpoint()

    async def fetch(self, current: int, size: int) -> PageLike[Item]:
        self.requests += 1
        self._maybe_insert()
        ordered = self._ordered(self.items)
        await self._pause()
        return Page(len(ordered), ordered[(current - 1) * size : current * size])

    async def resolve(self, source: int, key: Any, seen: Sequence[Item]) -> tuple[int, list[Item]]:
        """One narrow read of one second: one page of up to 100 (more cannot be held whole)."""
        self.requests += 1
        self._maybe_insert()
        alone = self._ordered([item for item in self.items if item.second == key])
        await self._pause()
        return len(alone), alone[:100]


@st.composite
def tied_items(draw: st.DrawFn) -> list[Item]:
    """Items in bursts: some seconds hold one, some dozens (up to a few pages of ties)."""
    bursts = draw(st.lists(st.integers(1, 40), min_size=0, max_size=25))
    items: list[Item] = []
    second = 0
    for burst in bursts:
        second += draw(st.integers(1, 3))
        base = len(items)
        items.extend(Item(second, base + n, n % 7) for n in range(burst))
    return items


async def walk(
    server: TieShufflingServer, size: int, concurrency: int, prefetch: int, own_group: bool
) -> list[Item]:
    async def run() -> list[Item]:
        out: list[Item] = []
        async for chunk in walk_pages(
            [server.fetch],
            size=size,
            concurrency=concurrency,
            prefetch=prefetch,
            sort_key=second_of,
            identity=id_of,
            resolve=server.resolve,
            task_group=group,
        ):
            out.extend(chunk.records)
        return out

    group = None
    if not own_group:
        return await run()
    result: list[Item] = []
    try:
        async with anyio.create_task_group() as group:
            result = await run()
    except ExceptionGroup as failed:  # the test's own group wraps what the walk raised
        raise failed.exceptions[0] from None
    return result


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=tied_items(),
    size=st.integers(1, 30),
    concurrency=st.integers(1, 5),
    prefetch=st.integers(1, 10),
    own_group=st.booleans(),
    insert_rate=st.sampled_from([0.0, 0.0, 0.2, 0.6]),
    seed=st.integers(0, 2**32 - 1),
)
def test_exactly_the_set_or_pagination_error(
    backend: str,
    items: list[Item],
    size: int,
    concurrency: int,
    prefetch: int,
    own_group: bool,
    insert_rate: float,
    seed: int,
) -> None:
    server = TieShufflingServer(list(items), random.Random(seed), insert_rate)
    try:
        got = anyio.run(walk, server, size, concurrency, prefetch, own_group, backend=backend)
    except PaginationError:
        return  # refusing is allowed; a wrong set is not
    counts = Counter(item.id for item in got)
    assert not counts or counts.most_common(1)[0][1] == 1, "an item came out twice"
    assert {item.id for item in items} <= set(counts), "an item that existed is missing"
    assert set(counts) - {item.id for item in items} <= {item.id for item in server.inserted}
    seconds = [item.second for item in got]
    assert seconds == sorted(seconds, reverse=True)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=40, deadline=None)
@given(items=tied_items(), size=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_without_inserts_a_second_of_at_most_a_page_is_never_refused(
    backend: str, items: list[Item], size: int, seed: int
) -> None:
    # Bursts are at most 40 here, so every ambiguous second fits one narrow read: the walk
    # must succeed, with exactly the record set.
    server = TieShufflingServer(list(items), random.Random(seed))
    got = anyio.run(walk, server, size, 3, 6, False, backend=backend)
    assert sorted(item.id for item in got) == sorted(item.id for item in items)


def test_a_stable_order_needs_no_read_of_its_own() -> None:
    # Equal seconds in the same order on every request: the pages prove every group whole.
    items = [Item(second, n, 0) for n, second in enumerate([5] * 30 + [4] * 50 + [3] * 7)]
    items.sort(key=lambda item: -item.second)
    scanner: GroupScanner[Item] = GroupScanner(second_of, id_of)
    delivered: list[Item] = []
    for index in range(0, len(items), 10):
        last = index + 10 >= len(items)
        chunk = items[index : index + 10]
        for _, parts in scanner.feed(index // 10, chunk, last=last, grown=False):
            for part in parts:
                assert not isinstance(part, Unresolved)
                delivered.extend(part)
    assert delivered == items
    assert scanner.unresolved == 0


def test_a_second_split_with_a_duplicate_is_unresolved_and_settled_by_its_own_read() -> None:
    a, b, c = Item(7, 1, 0), Item(7, 2, 1), Item(7, 3, 2)
    scanner: GroupScanner[Item] = GroupScanner(second_of, id_of)
    assert scanner.feed(0, [Item(9, 0, 0), a, b], last=False, grown=False) == []
    done = scanner.feed(1, [a, Item(6, 4, 0)], last=True, grown=False)  # c never seen, a twice
    (first, parts0), (second, parts1) = done
    assert (first, second) == (0, 1)
    assert parts1 == [[Item(6, 4, 0)]]
    group = parts0[1]
    assert isinstance(group, Unresolved)
    assert (group.key, group.expected) == (7, 3)
    assert settle_group(group, 3, [c, a, b], sort_key=second_of, identity=id_of) == [c, a, b]
    # A past second whose count moved is read again; a short or mixed answer is refused.
    assert (
        settle_group(group, 4, [a, b, c, Item(7, 9, 0)], sort_key=second_of, identity=id_of) is None
    )
    with pytest.raises(PaginationError, match="key 7: reading it on its own gave 2 distinct"):
        settle_group(group, 3, [a, b], sort_key=second_of, identity=id_of)
    with pytest.raises(PaginationError, match="another time"):
        settle_group(group, 3, [a, b, Item(8, 5, 0)], sort_key=second_of, identity=id_of)
    with pytest.raises(PaginationError, match="vanished"):
        settle_group(group, 2, [a, b], sort_key=second_of, identity=id_of)
