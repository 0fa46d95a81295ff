"""ListStream: every item of one call-center list, on the paginator behind ``client.records()``.

The walking itself (concurrent pages, exactly once while the list grows,
bounded memory) is :func:`laaffic_async._paging.walker.walk_pages`; this class
adds argument checks, a name for error messages and the two ways to read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from typing import Any, Generic, TypeVar

from anyio.abc import TaskGroup

from .._core import validators as v
from .._core.paging import OrderTracker
from .walker import Fetch, walk_pages

__all__ = ["ListStream"]

T = TypeVar("T")


class ListStream(Generic[T]):
    """Every item of one call-center list, exactly once, on the machinery of ``client.records()``.

    Iterate it (``async for group in client.call_center.groups(): ...``) or
    call :meth:`pages` for page-sized lists.  The first page fixes what is
    delivered (the items the list holds then); the other pages are fetched
    ``concurrency`` at a time and delivered in the server's order.  Items
    added while it runs are not delivered (a later walk sees them), and none
    is delivered twice even when the server pages newest first and the list
    grows meanwhile: the order is learned from the items' ids, which grow
    with creation.  Items that vanish raise
    :class:`~laaffic_async.errors.PaginationError` rather than being skipped.
    Memory is O(4 x concurrency x page_size) items however long the list is.
    Each iteration starts a fresh walk, on the one paging driver of
    ``client.records()``: inside ``async with AsyncClient(...)`` its workers
    keep pages in flight in the client's task group while items are handed
    out; on a client that is not entered they fetch between two yields.
    """

    def __init__(
        self,
        name: str,
        fetch: Fetch[T],
        *,
        page_size: int,
        concurrency: int,
        sort_key: Callable[[T], Any],
        identity: Callable[[T], Hashable],
        task_group: Callable[[], TaskGroup | None] | None = None,
    ) -> None:
        self.name = name
        self.page_size = v.int_in_range("size", page_size, *v.PAGE_SIZE_RANGE)
        self.concurrency = v.concurrency("concurrency", concurrency)
        self._fetch = fetch
        self._sort_key = sort_key
        self._identity = identity
        # Asked at each walk: the client may be entered after the stream was made.
        self._task_group = task_group or (lambda: None)

    def __repr__(self) -> str:
        return (
            f"ListStream({self.name!r}, page_size={self.page_size}, concurrency={self.concurrency})"
        )

    def __aiter__(self) -> AsyncGenerator[T, None]:
        """A fresh walk; close it (``contextlib.aclosing``) when leaving a loop early."""
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for item in page:
                    yield item

    async def pages(self) -> AsyncGenerator[list[T], None]:
        """Yield the items page by page (one list per page of the first answer)."""
        chunks = walk_pages(
            [self._fetch],
            size=self.page_size,
            concurrency=self.concurrency,
            sort_key=self._sort_key,
            identity=self._identity,
            order=OrderTracker(),
            describe=lambda _: self.name,
            task_group=self._task_group(),
        )
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk.records
