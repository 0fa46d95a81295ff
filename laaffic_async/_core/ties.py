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
distinct.  The list's first and last groups (one of them is its newest
second) are unresolved whenever the list grew while it was paged, since new
items may share that key; read on its own, the newest second may then hold
more than it did, and all of its items are delivered.

Memory is one group plus the chunks in flight: no set of every id seen.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import attrs

from ..errors import PaginationError

__all__ = ["GroupScanner", "Unresolved", "describe_key", "settle_group"]

T = TypeVar("T")


def describe_key(key: Any) -> str:
    """A sort key for error messages: a datetime as the second it names, in UTC."""
    if isinstance(key, datetime):
        return f"second {key.astimezone(UTC).isoformat()}"
    return f"key {key!r}"


@attrs.frozen
class Unresolved(Generic[T]):
    """A group the pages could not prove whole: read ``key`` on its own, then :func:`settle_group`.

    ``expected`` is how many positions the key held when the list was first
    seen; ``volatile`` marks the list's first and last groups (one of them
    is its newest second, which may gain items meanwhile: then more are
    accepted and delivered); ``seen`` is what the pages held.
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

    :meth:`feed` takes chunk ``index`` and returns the chunks it finishes,
    as ``(index, parts)``.  A group a chunk ends with is still open: the
    chunk waits for the next one, and the group comes out with the chunk it
    started in, so a list without ties keeps its page sizes.  A group that
    covers a whole further chunk releases its first chunk and comes out with
    the chunk that closes it (a chunk waits for one more at most).  List
    order is kept and each item is placed once.
    """

    sort_key: Callable[[T], Any]
    identity: Callable[[T], Hashable]
    #: False when new items always get keys of their own (ids that grow): then the newest
    #: group cannot gain members while the list is paged.
    newest_may_grow: bool = True
    open_items: list[T] = attrs.field(factory=list)
    open_key: Any = None
    #: The chunk the open group will come out with, if it is not the one that closes it.
    home: tuple[int, list[Part[T]]] | None = None
    first: bool = True
    #: Groups closed so far, and how many of them needed a read of their own.
    groups: int = 0
    unresolved: int = 0

    def feed(
        self, index: int, items: Sequence[T], *, last: bool, grown: bool
    ) -> list[tuple[int, list[Part[T]]]]:
        """The chunks finished by chunk ``index``; ``grown``: the list's total moved meanwhile."""
        done: list[tuple[int, list[Part[T]]]] = []
        parts: list[Part[T]] = []
        opened = False
        for item in items:
            key = self.sort_key(item)
            if self.open_items and key != self.open_key:
                self._close(parts, edge=self.first, grown=grown, done=done)
            if not self.open_items:
                self.open_key = key
                opened = True
            self.open_items.append(item)
        if last:
            if self.open_items:
                self._close(parts, edge=True, grown=grown, done=done)
            done.append((index, parts))
        elif opened:
            self.home = (index, parts)  # waits for the chunk that closes its last group
        else:
            # The whole chunk continues the open group: release the group's first chunk.
            if self.home is not None:
                done.append(self.home)
                self.home = None
            done.append((index, parts))
        return done

    def _close(
        self,
        parts: list[Part[T]],
        *,
        edge: bool,
        grown: bool,
        done: list[tuple[int, list[Part[T]]]],
    ) -> None:
        # The list's first and last groups: one of them is its newest second, which may still
        # gain items (inserts join the newest end); any other second lies in the past.
        volatile = edge and self.newest_may_grow
        items, self.open_items = self.open_items, []
        self.first = False
        self.groups += 1
        target = parts if self.home is None else self.home[1]
        if not (volatile and grown) and _distinct(items, self.identity):
            if target and not isinstance(target[-1], Unresolved):
                target[-1].extend(items)
            else:
                target.append(items)
        else:
            self.unresolved += 1
            target.append(Unresolved(self.open_key, len(items), volatile, tuple(items)))
        if self.home is not None:
            done.append(self.home)
            self.home = None


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
