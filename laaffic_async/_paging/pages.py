"""What a page walk reads and yields: the page protocol, the fetch and resolve signatures, chunks.

Shared by the walker (:mod:`laaffic_async._paging.walker`) and the paginators built on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import attrs

__all__ = ["Chunk", "Fetch", "PageLike", "Resolve"]

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
#: ``resolve(source, key, seen)``: every item of list ``source`` whose sort key is ``key``, read
#: on its own, as ``(total the server reports, items)``; ``seen`` is what the pages held.
Resolve = Callable[[int, Any, Sequence[T]], Awaitable[tuple[int, Sequence[T]]]]


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
