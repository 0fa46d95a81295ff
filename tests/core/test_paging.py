"""Exactly-once paging arithmetic: positions, chunks, order detection, refills."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laaffic_async import PaginationError
from laaffic_async._core.paging import (
    ChunkFill,
    Order,
    OrderTracker,
    chunk_count,
    chunk_positions,
    detect_order,
    page_of,
    page_positions,
)

orders = st.sampled_from(list(Order))


class GrowingList:
    """A server-side list: item ids are their stable positions; new ones join the newest end."""

    def __init__(self, order: Order, total: int, growth: list[int]) -> None:
        self.order = order
        self.items = list(range(total))
        self.growth = iter(growth)

    def page(self, current: int, size: int) -> tuple[int, list[int]]:
        added = next(self.growth, 0)
        self.items.extend(range(len(self.items), len(self.items) + added))
        ordered = self.items[::-1] if self.order is Order.NEWEST_FIRST else self.items
        return len(self.items), ordered[(current - 1) * size : current * size]


@given(orders, st.integers(0, 500), st.integers(1, 40))
def test_chunks_partition_the_first_total(order: Order, total: int, size: int) -> None:
    seen: list[int] = []
    for index in range(chunk_count(total, size)):
        seen.extend(chunk_positions(order, total, size, index))
    assert sorted(seen) == list(range(total))
    assert chunk_count(total, size) == max(1, -(-total // size))


@given(orders, st.integers(1, 500), st.integers(1, 40), st.data())
def test_page_of_inverts_page_positions(
    order: Order, total: int, size: int, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, total - 1))
    current = page_of(order, total, position, size)
    assert position in page_positions(order, total, current, size, size)


@given(
    orders,
    st.integers(0, 400),
    st.integers(1, 30),
    st.lists(st.integers(0, 45), max_size=60),
    st.randoms(use_true_random=False),
)
def test_refills_deliver_the_first_total_exactly_once_while_the_list_grows(
    order: Order, total: int, size: int, growth: list[int], rng: object
) -> None:
    """Chunks fetched in any order, the list growing before any answer: nothing lost or doubled."""
    server = GrowingList(order, total, growth)
    t0, first = server.page(1, size)
    latest = t0
    delivered: dict[int, list[int]] = {0: first}
    indexes = list(range(1, chunk_count(t0, size)))
    rng.shuffle(indexes)  # type: ignore[attr-defined]
    for index in indexes:
        fill: ChunkFill[int] = ChunkFill(t0, index, size, identity=lambda item: item)
        pages = [index + 1]
        for _ in range(50):
            for current in pages:
                answered, items = server.page(current, size)
                latest = max(latest, answered)
                fill.add(answered, current, items)
            pages = fill.pages_for_missing(order, latest)
            if not pages:
                break
        delivered[index] = fill.items(order)
    flat = [item for index in sorted(delivered) for item in delivered[index]]
    expected = list(range(t0))
    assert flat == (expected[::-1] if order is Order.NEWEST_FIRST else expected)


def test_oldest_first_never_needs_a_refill() -> None:
    server = GrowingList(Order.OLDEST_FIRST, 250, [0, 7])
    t0, _ = server.page(1, 100)
    fill: ChunkFill[int] = ChunkFill(t0, 2, 100)
    answered, items = server.page(3, 100)
    fill.add(answered, 3, items)
    assert (answered, fill.moved) == (257, True)
    assert fill.missing(Order.OLDEST_FIRST) == []
    assert fill.items(Order.OLDEST_FIRST) == list(range(200, 250))


def test_a_moved_answer_is_refilled_from_the_next_page() -> None:
    # Newest first, 250 items; 5 calls arrive before page 2 is answered.
    fill: ChunkFill[int] = ChunkFill(250, 1, 100, identity=lambda item: item)
    newest_first = list(range(255))[::-1]
    fill.add(255, 2, newest_first[100:200])
    assert fill.moved
    assert fill.missing(Order.NEWEST_FIRST) == [54, 53, 52, 51, 50]
    assert fill.pages_for_missing(Order.NEWEST_FIRST, 255) == [3]
    fill.add(255, 3, newest_first[200:255])
    assert fill.items(Order.NEWEST_FIRST) == list(range(149, 49, -1))


def test_exact_answer_is_taken_as_is_whatever_the_order() -> None:
    fill: ChunkFill[str] = ChunkFill(250, 2, 100)
    fill.add(250, 3, ["a"] * 50)
    assert fill.exact() is not None
    assert fill.missing(Order.NEWEST_FIRST) == fill.missing(Order.OLDEST_FIRST) == []


def test_short_page_leaves_positions_missing() -> None:
    fill: ChunkFill[int] = ChunkFill(250, 1, 100)
    fill.add(250, 2, list(range(90)))
    assert len(fill.missing(Order.NEWEST_FIRST)) == 10
    with pytest.raises(PaginationError, match="missing"):
        fill.items(Order.NEWEST_FIRST)


def test_a_shrinking_list_is_refused() -> None:
    fill: ChunkFill[int] = ChunkFill(250, 1, 100)
    with pytest.raises(PaginationError, match="shrank from 250 to 249"):
        fill.add(249, 2, [])


def test_items_moving_inside_the_list_are_detected() -> None:
    fill: ChunkFill[str] = ChunkFill(250, 1, 100, identity=lambda item: item)
    fill.add(251, 2, [f"a{i}" for i in range(100)])
    # The same page at the same total, but other items at the same positions.
    fill.add(251, 2, [f"b{i}" for i in range(100)])
    with pytest.raises(PaginationError, match="moved inside the list"):
        fill.place(Order.NEWEST_FIRST)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ([3, 2, 2, 1], Order.NEWEST_FIRST),
        ([1, 1, 2], Order.OLDEST_FIRST),
        ([5, 5, 5], None),
        ([7], None),
        ([], None),
        ([1, 3, 2], None),
    ],
)
def test_detect_order(keys: list[int], expected: Order | None) -> None:
    assert detect_order(keys) is expected


def test_tracker_learns_once_and_guards_what_it_relied_on() -> None:
    tracker = OrderTracker()
    tracker.observe([5, 5])
    assert tracker.order is Order.NEWEST_FIRST  # assumed until shown otherwise
    tracker.observe([1, 2, 3])
    assert tracker.detected is Order.OLDEST_FIRST
    assert tracker.order_for_mapping() is Order.OLDEST_FIRST
    with pytest.raises(PaginationError, match="changed"):
        tracker.observe([3, 2, 1])


def test_tracker_refuses_to_map_after_a_conflict() -> None:
    tracker = OrderTracker()
    tracker.observe([3, 2, 1])
    tracker.observe([1, 3, 2])  # unsorted: harmless while totals hold still ...
    assert tracker.conflict is not None
    with pytest.raises(PaginationError, match="order is unclear"):
        tracker.order_for_mapping()  # ... but nothing is placed by it once they move


def test_tracker_catches_a_wrong_assumption_after_the_fact() -> None:
    tracker = OrderTracker()
    assert tracker.order_for_mapping() is Order.NEWEST_FIRST  # nothing known: assumed
    with pytest.raises(PaginationError, match="assumed newest_first"):
        tracker.observe([1, 2])
