"""Exactly-once paging over a list that grows while it is read: the arithmetic.

The problem
-----------
A paged list (recordSipQuery inside one fixed time window) is numbered by
the server at the moment of each request.  If it pages *newest first* and a
call is placed meanwhile, every older record moves one place down: page 7
now starts with what was the last record of page 6, and the oldest record
of the window slides onto a page nobody planned to fetch.  Fetching page 1,
then the other pages concurrently, then dropping duplicates silently loses
exactly those records.

What stays stable
-----------------
New records land at the *newest* end.  So a record's position counted from
the *oldest* end never changes while the list grows: for a newest-first
list, the ``j``-th record (0-based) of page ``current`` in an answer whose
``total`` is ``T`` sits at position ``T - 1 - ((current - 1) * size + j)``.
For an oldest-first list the start is the stable end and the position is
simply ``(current - 1) * size + j``.

Every answer carries the ``total`` it was numbered with, so each answer can
be placed exactly.  The target of one list is positions ``[0, T0)`` where
``T0`` is the total of its first page: records that existed when paging
began.  Chunk ``k`` is the positions page ``k + 1`` held at ``T0``.  An
answer whose total moved covers its chunk only partly; the missing
positions are fetched again from the pages that hold them *now*
(:meth:`ChunkFill.pages_for_missing`).  Memory is one chunk per fetch in
flight: no set of ids that grows with the export.

Which end is stable is learned from the records' sort keys (submit times):
see :class:`OrderTracker`.  Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ..errors import PaginationError

__all__ = [
    "ChunkFill",
    "Order",
    "OrderTracker",
    "chunk_count",
    "chunk_positions",
    "detect_order",
    "page_of",
    "page_positions",
]

T = TypeVar("T")


class Order(enum.Enum):
    """Which end of a paged list page 1 shows (and so where new items appear)."""

    #: Page 1 holds the newest items; new items push older ones to later pages.
    NEWEST_FIRST = "newest_first"
    #: Page 1 holds the oldest items; new items are appended after the last page.
    OLDEST_FIRST = "oldest_first"


def page_positions(order: Order, total: int, current: int, size: int, count: int) -> range:
    """Stable positions of the ``count`` items of page ``current`` in an answer of ``total``.

    In page order: the ``j``-th item of the page is at ``result[j]``.
    Positions below 0 mean the page reached past the list (ignore them).
    """
    first = (current - 1) * size
    if order is Order.NEWEST_FIRST:
        top = total - 1 - first
        return range(top, top - count, -1)
    return range(first, first + count)


def page_of(order: Order, total: int, position: int, size: int) -> int:
    """The 1-based page that holds stable ``position`` in a list of ``total`` items."""
    offset = total - 1 - position if order is Order.NEWEST_FIRST else position
    return offset // size + 1


def chunk_count(total: int, size: int) -> int:
    """How many chunks a list of ``total`` items has; at least one, so an empty list is seen."""
    return max(1, -(-total // size))


def chunk_positions(order: Order, total: int, size: int, index: int) -> range:
    """Positions of chunk ``index`` (0-based): what page ``index + 1`` held at ``total``.

    In page order, like :func:`page_positions`, clipped to ``[0, total)``.
    """
    count = max(0, min(size, total - index * size))
    return page_positions(order, total, index + 1, size, count)


def detect_order(keys: Sequence[Any]) -> Order | None:
    """The order a page's sort keys show, or ``None`` if they show none.

    ``None`` when fewer than two distinct keys, or when the keys are not
    sorted either way (then they say nothing about where new items go).
    """
    descending = ascending = True
    distinct = False
    for previous, following in itertools.pairwise(keys):
        if following > previous:
            descending = False
            distinct = True
        elif following < previous:
            ascending = False
            distinct = True
    if not distinct or descending == ascending:
        return None
    return Order.NEWEST_FIRST if descending else Order.OLDEST_FIRST


@attrs.define
class OrderTracker:
    """Learns a server's paging order from its pages, and guards every use of it.

    Feed it each page's sort keys with :meth:`observe`.  The first page with
    two distinct keys decides; later pages are checked against it.  Until
    something decides, ``assumed`` is used (newest first: comparable CDR APIs
    page that way).  The order only matters when a list's total moved
    between answers; :meth:`order_for_mapping` is called then, and a
    contradiction seen before or after that raises
    :class:`~laaffic_async.errors.PaginationError` instead of delivering
    records placed by a wrong guess.
    """

    assumed: Order = Order.NEWEST_FIRST
    detected: Order | None = None
    #: Set when a page contradicted the detected order (or was unsorted).
    conflict: str | None = None
    #: The order answers were mapped with while it mattered, if any.
    relied_on: Order | None = None

    def observe(self, keys: Sequence[Any]) -> None:
        """Take one page's sort keys into account (raises if a relied-on order proves wrong)."""
        found = detect_order(keys)
        if found is None:
            if _unsorted(keys):
                self._contradict("a page's records are not sorted by time")
            return
        if self.detected is None:
            self.detected = found
        if found is not self.detected:
            self._contradict(
                f"pages disagree on the order ({found.value} after {self.detected.value})"
            )
        if self.relied_on is not None and found is not self.relied_on:
            self._contradict(f"assumed {self.relied_on.value}, but a page is {found.value}")

    def order_for_mapping(self) -> Order:
        """The order to place answers by, now that a total moved; remembered as relied on."""
        if self.conflict is not None:
            raise PaginationError(
                f"the list grew while paging and its order is unclear: {self.conflict}"
            )
        order = self.detected or self.assumed
        self.relied_on = order
        return order

    @property
    def order(self) -> Order:
        """The detected order, else the assumed one (for planning; not a promise)."""
        return self.detected or self.assumed

    def _contradict(self, why: str) -> None:
        if self.conflict is None:
            self.conflict = why
        if self.relied_on is not None:
            raise PaginationError(f"the server's paging order changed under the paginator: {why}")


def _unsorted(keys: Sequence[Any]) -> bool:
    pairs = list(itertools.pairwise(keys))
    return any(b > a for a, b in pairs) and any(b < a for a, b in pairs)


@attrs.define
class ChunkFill(Generic[T]):
    """The items of one chunk, gathered from one or more page answers.

    Chunk ``index`` of a list first seen with ``total`` items is what page
    ``index + 1`` held then.  :meth:`add` keeps each answer as it came
    (``total``, page, items); :meth:`place` puts them at their stable
    positions for a given order.  Placing is deferred because the order may
    only become known later, and only matters once a total moved.
    ``identity`` (a voice id, say) lets :meth:`place` check that two answers
    agree on what sits at a position: if they do not, items moved inside the
    list rather than arriving at its newest end, and paging cannot be
    trusted.
    """

    total: int
    index: int
    size: int
    identity: Callable[[T], Hashable] | None = None
    #: With a sort key, two answers may disagree on *which* item of one key sits at a position:
    #: servers order equal keys arbitrarily (:mod:`._core.ties` checks those groups instead).
    sort_key: Callable[[T], Any] | None = None
    answers: list[tuple[int, int, Sequence[T]]] = attrs.field(factory=list)

    def add(self, total: int, current: int, items: Sequence[T]) -> None:
        """Keep the items of page ``current`` answered with ``total``.

        A total below the first one means items were removed: positions
        counted from either end are then unreliable, so it raises
        :class:`~laaffic_async.errors.PaginationError`.
        """
        if total < self.total:
            raise PaginationError(
                f"the list shrank from {self.total} to {total} items while it was paged"
            )
        self.answers.append((total, current, items))

    @property
    def moved(self) -> bool:
        """True when some answer was numbered with a total other than the first one."""
        return any(total != self.total for total, _, _ in self.answers)

    def positions(self, order: Order) -> range:
        """The chunk's stable positions under ``order``, in page order."""
        return chunk_positions(order, self.total, self.size, self.index)

    def place(self, order: Order) -> dict[int, T]:
        """The chunk's items found so far, by stable position under ``order``."""
        wanted = self.positions(order)
        low, high = (min(wanted), max(wanted) + 1) if wanted else (0, 0)
        found: dict[int, T] = {}
        for total, current, items in self.answers:
            for position, item in zip(
                page_positions(order, total, current, self.size, len(items)), items, strict=True
            ):
                if not low <= position < high:
                    continue
                known = found.setdefault(position, item)
                if known is not item and self.identity is not None:
                    before, after = self.identity(known), self.identity(item)
                    tie = self.sort_key is not None and self.sort_key(known) == self.sort_key(item)
                    if before != after and not tie:
                        raise PaginationError(
                            f"position {position} held {before!r}, then {after!r}: "
                            "items moved inside the list while it was paged"
                        )
        return found

    def exact(self) -> Sequence[T] | None:
        """The items when one answer was exactly the chunk (the common case), else None."""
        if len(self.answers) != 1:
            return None
        total, current, items = self.answers[0]
        expected = max(0, min(self.size, self.total - self.index * self.size))
        if total != self.total or current != self.index + 1 or len(items) != expected:
            return None
        return items

    def missing(self, order: Order) -> list[int]:
        """Positions of the chunk no answer has covered yet."""
        if self.exact() is not None:
            return []
        found = self.place(order)
        return [p for p in self.positions(order) if p not in found]

    def pages_for_missing(self, order: Order, total: int) -> list[int]:
        """The pages that hold the missing positions in a list of ``total`` items, ascending."""
        return sorted({page_of(order, total, p, self.size) for p in self.missing(order)})

    def items(self, order: Order) -> list[T]:
        """The chunk's items in page order; raises if some are still missing."""
        exact = self.exact()
        if exact is not None:
            return list(exact)
        found = self.place(order)
        try:
            return [found[p] for p in self.positions(order)]
        except KeyError as missing:
            raise PaginationError(f"position {missing} of chunk {self.index} is missing") from None
