"""Exactly once when items share a sort key and the server orders such ties differently each time.

The problem
-----------
recordSipQuery sorts by ``submitTime``, which has one-second precision, and
a busy dialer submits dozens of calls in one second.  A server paging with
``ORDER BY submitTime DESC LIMIT/OFFSET`` and no unique tiebreaker may order
the records of one second differently on every request (SQL promises nothing
about rows whose sort keys are equal).  Positions stay right (the *n*-th row
of any answer has the same submit time), but *which* record of a second sits
at a position is arbitrary: two pages that split a second between them may
both hold one record of it and neither hold another.

What is checked
---------------
Items are cut into *groups* of equal sort key (a second), in list order, as
chunks come out of the walker (:class:`GroupScanner`).  A group whose items
are pairwise distinct is exactly the group: the positions it covers are the
positions of its key in every answer, so ``g`` distinct members of a set of
``g`` are all of them.  This holds whichever answers the items came from,
which is why a server that orders ties the same way every time costs
nothing extra.  A group with a duplicate is *unresolved*: the caller reads
that key on its own (one narrow request that one page holds whole) and
:func:`settle_group` checks the answer: the count must match the positions
(a past second does not change), every item must carry the key and be
distinct.  The group at the list's newest end is unresolved whenever the
list grew while it was paged (new items may share its key; then the narrow
answer may hold more, and all of them are delivered).

Memory is one group plus the chunks in flight: no set of every id seen.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ..errors import PaginationError

__all__ = ["GroupScanner", "Unresolved", "describe_key", "settle_group"]

T = TypeVar("T")


def describe_key(key: Any) -> str:
    """A sort key for error messages: a datetime as the second it names."""
    isoformat = getattr(key, "isoformat", None)
    return f"second {isoformat()}" if callable(isoformat) else f"key {key!r}"


@attrs.frozen
class Unresolved(Generic[T]):
    """A group the pages could not prove whole: read ``key`` on its own, then :func:`settle_group`.

    ``expected`` is how many positions the key held when the list was first
    seen; ``volatile`` marks the list's newest group after the list grew
    (its key may have gained items since); ``seen`` is what the pages held.
    """

    key: Any
    expected: int
    volatile: bool
    seen: tuple[T, ...]


#: A chunk cut into parts: items proven right, or a group still to read on its own.
Part = list[T] | Unresolved[T]


@attrs.define
class GroupScanner(Generic[T]):
    """Cuts one list's chunks, fed in list order, into proven items and unresolved groups.

    :meth:`feed` returns the parts of one chunk; the group a chunk ends with
    stays open until a chunk with another key (or the list's last chunk)
    closes it, and comes out with the chunk that closes it, so list order is
    kept and each item is placed once.
    """

    sort_key: Callable[[T], Any]
    identity: Callable[[T], Hashable]
    open_items: list[T] = attrs.field(factory=list)
    open_key: Any = None
    first: bool = True
    #: Groups closed so far, and how many of them needed a read of their own.
    groups: int = 0
    unresolved: int = 0

    def feed(self, items: Sequence[T], *, last: bool, grown: bool) -> list[Part[T]]:
        """The parts of one chunk; ``grown``: the list's total moved while it was paged."""
        parts: list[Part[T]] = []
        proven: list[T] = []
        for item in items:
            key = self.sort_key(item)
            if self.open_items and key != self.open_key:
                self._close(parts, proven, volatile=grown and self.first)
            if not self.open_items:
                self.open_key = key
            self.open_items.append(item)
        if last and self.open_items:
            self._close(parts, proven, volatile=grown)
        if proven:
            parts.append(proven)
        return parts

    def _close(self, parts: list[Part[T]], proven: list[T], *, volatile: bool) -> None:
        items, self.open_items = self.open_items, []
        self.first = False
        self.groups += 1
        if not volatile and _distinct(items, self.identity):
            proven.extend(items)
            return
        self.unresolved += 1
        if proven:
            parts.append(proven[:])
            proven.clear()
        parts.append(Unresolved(self.open_key, len(items), volatile, tuple(items)))


def _distinct(items: Sequence[T], identity: Callable[[T], Hashable]) -> bool:
    return len(items) < 2 or len({identity(item) for item in items}) == len(items)


def settle_group(
    group: Unresolved[T],
    total: int,
    items: Sequence[T],
    *,
    sort_key: Callable[[T], Any],
    identity: Callable[[T], Hashable],
) -> list[T] | None:
    """Check a narrow read of ``group.key`` (``total`` reported, ``items`` received).

    Returns the group's items; ``None`` when the key's count differs from
    the positions it held although it lies in the past, or when the newest
    group was read in parts that disagree (read it again: the count may
    have been caught mid-change).  Raises
    :class:`~laaffic_async.errors.PaginationError` naming the key when the
    answer is not the whole key (items of another key, duplicates, fewer
    items than the total) or the key lost items.
    """
    name = describe_key(group.key)
    strangers = [item for item in items if sort_key(item) != group.key]
    if strangers:
        raise PaginationError(
            f"{name}: reading it on its own returned {len(strangers)} item(s) of another time"
        )
    distinct = {identity(item) for item in items}
    if len(distinct) != len(items) or len(items) != total:
        if group.volatile and len(distinct) == len(items):
            return None  # read in parts while the newest second still filled: read it again
        raise PaginationError(
            f"{name}: reading it on its own gave {len(distinct)} distinct of {len(items)} "
            f"item(s) for a total of {total}; its completeness cannot be established"
        )
    if total < group.expected:
        raise PaginationError(
            f"{name}: holds {total} item(s) now but {group.expected} when the list was first "
            "seen: items vanished while it was paged"
        )
    if total > group.expected and not group.volatile:
        return None
    return list(items)
