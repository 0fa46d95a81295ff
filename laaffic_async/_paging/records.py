"""Call records of any window: 31-day slices x concurrent pages, every record exactly once.

:meth:`AsyncClient.records <laaffic_async.AsyncClient.records>` returns a
:class:`RecordStream`.  The time slicing is :mod:`._core.windows`, the
paging :mod:`._paging.walker`; this module joins them, reads a second on its
own when asked, and keeps the score.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING

import attrs
from anyio.abc import TaskGroup

from .._core import validators as v
from .._core.converter import structure
from .._core.paging import OrderTracker
from .._core.requests import record_query_request
from .._core.windows import TimeSlice, check_window, slice_window
from .._io.instrument import NOOP, Instrumentation, Operation
from ..errors import ApiError, ResponseFormatError
from ..models import CallRecord, RecordPage
from .seconds import read_second
from .walker import Fetch, PageLike, Resolve, walk_pages

if TYPE_CHECKING:
    import anyio.abc

    from .._io.caller import Caller

__all__ = ["FetchRecords", "RecordBatch", "RecordProgress", "RecordStream"]

# The RecordProgress counts an export's span carries when it ends.
_COUNTED = ("records", "requests", "total", "slices_done", "seconds_read")

#: ``fetch(strTime, endTime, current, size, phoneName)``: one raw recordSipQuery page
#: (``phoneName`` None: no account filter).
FetchRecords = Callable[[datetime, datetime, int, int, str | None], Awaitable[RecordPage]]


@attrs.frozen
class RecordBatch:
    """One page-sized batch of call records, as :meth:`RecordStream.pages` yields it.

    ``records`` are what page ``number`` (of ``count``) of the slice held
    when the slice was first queried, kept to those the slice owns (a batch
    may be empty).  ``total`` is the record count the server reported for
    the slice's (padded) query window at that moment.
    """

    slice: TimeSlice
    number: int
    count: int
    total: int
    records: list[CallRecord]

    @property
    def last(self) -> bool:
        """True for the slice's final batch: after it, the slice is complete."""
        return self.number == self.count


@attrs.define
class RecordProgress:
    """Live counters of a :class:`RecordStream`, for progress bars and logs.

    ``total`` sums the totals the server reported for the slices seen so
    far (``total_known`` once every slice's first page answered); it may
    exceed ``records`` by the few rows of the one-second pads around slice
    boundaries, which belong to the neighbour slice.
    """

    slices: int = 0
    slices_done: int = 0
    slices_seen: int = 0
    records: int = 0
    total: int = 0
    requests: int = 0
    #: Seconds read on their own because the pages split them ambiguously (see RecordStream).
    seconds_read: int = 0

    @property
    def total_known(self) -> bool:
        """True once every slice's first page has answered."""
        return self.slices_seen >= self.slices


def _submit_time(record: CallRecord) -> datetime:
    return record.submit_time


def _voice_id(record: CallRecord) -> str:
    return record.voice_id


class RecordStream:
    """Every call record of a window, exactly once, in a stable order.

    Iterate it for records (``async for record in client.records(...)``) or
    call :meth:`pages` for page-sized batches.  Built by
    :meth:`AsyncClient.records <laaffic_async.AsyncClient.records>`, which
    also validates the window (before any request).

    How it works: the window is cut into slices of at most 31 days
    (:attr:`slices`); each slice's first page fixes its target (the records
    it holds then), its other pages are fetched concurrently, at most
    ``concurrency`` requests in flight in all, slices overlapping.  Records
    come out slice by slice, page by page, in the server's order.

    Guarantee: every record that exists in the window when its slice's
    first page is answered comes out exactly once, even if calls are placed
    meanwhile, and whichever way the server pages (newest or oldest first,
    learned from submit times) and treats ``strTime``/``endTime``
    (inclusive or not).  Records *added* to a slice after its first page are
    not delivered (a later export sees them), except those added to the
    slice's newest second itself, which may come out with it.  This relies
    on the server sorting by submit time and on new calls joining the newest
    end; the records of one second may come in any order, different on every
    request (``submitTime`` has one-second precision): a second the pages
    split ambiguously is read on its own (:mod:`._core.ties`,
    :func:`._paging.seconds.read_second`), and comes out by voice id.  If records vanish or
    move, or a second cannot be read whole (more than 100 records of one
    account in it), :class:`~laaffic_async.errors.PaginationError` is raised
    rather than a row being lost or doubled.

    Cost: memory is O(prefetch x page_size) records (``prefetch`` = 4 x
    ``concurrency`` pages; about 1,600 records at the defaults) plus one
    second's records, however many records the window holds: no set of seen
    ids is kept (exporting 1,000,000 records to CSV peaked at 64 MB RSS,
    benchmarks/bench_export.py).  Inside ``async with AsyncClient(...)``
    pages are fetched by workers in the client's task group,
    ``concurrency`` in flight all the time, while records are handed out;
    closing the iteration (``aclosing``, ``break`` in an ``async with``
    block's loop, or cancellation) stops them.  On a client that is not
    entered the same workers run in a task group of the stream's own until
    the next page is ready and the prefetch is full, and leave it before
    records are handed out (slower: nothing is in flight meanwhile).  A
    slice that grows while it is paged costs up to one extra request per
    page; a second split ambiguously costs one request (one per account
    in it when it holds more than 100 records).
    Transport errors, 5xx and -15 are retried by the client (its
    :class:`~laaffic_async.RetryPolicy`); any other
    :class:`~laaffic_async.errors.ApiError` (-25 out of range, -22) is raised
    as the same class with ``context`` naming the failed slice
    (``slice``, ``slice_start``, ``slice_end``: the query window sent).

    ``progress`` (:class:`RecordProgress`) counts as it goes; it is reset
    when an iteration starts.
    """

    def __init__(
        self,
        fetch: FetchRecords,
        start: datetime,
        end: datetime,
        *,
        now: float,
        page_size: int = 100,
        concurrency: int = 4,
        prefetch: int | None = None,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
        task_group: Callable[[], TaskGroup | None] | None = None,
        instrumentation: Instrumentation = NOOP,
    ) -> None:
        window = check_window(start, end, now)
        self.page_size = v.int_in_range("size", page_size, *v.PAGE_SIZE_RANGE)
        self.concurrency = v.concurrency("concurrency", concurrency)
        if prefetch is not None:
            v.concurrency("prefetch", prefetch, v.BUFFER_MAX)
        self.prefetch = prefetch
        if sip_group_name is not None:
            v.required_text("sipGroupName", sip_group_name)
        if phone_name is not None:
            v.required_text("phoneName", phone_name)
        self.sip_group_name = sip_group_name
        self.phone_name = phone_name
        self.start, self.end = window
        #: The window's slices, in order (at most 31 days each).
        self.slices: tuple[TimeSlice, ...] = tuple(slice_window(*window))
        self.progress = RecordProgress(slices=len(self.slices))
        self._fetch = fetch
        self._instrument = instrumentation
        # Asked at each iteration: the client may be entered after records() was called.
        self._task_group = task_group or (lambda: None)

    def __repr__(self) -> str:
        return (
            f"RecordStream(start={self.start.isoformat()!r}, end={self.end.isoformat()!r}, "
            f"slices={len(self.slices)}, page_size={self.page_size}, "
            f"concurrency={self.concurrency})"
        )

    def __aiter__(self) -> AsyncGenerator[CallRecord, None]:
        """A fresh iteration over the records (an async generator: ``aclose()`` ends it early)."""
        return self._records()

    async def _records(self) -> AsyncGenerator[CallRecord, None]:
        async with aclosing(self.pages()) as batches:
            async for batch in batches:
                for record in batch.records:
                    yield record

    async def pages(self) -> AsyncGenerator[RecordBatch, None]:
        """Yield the records in page-sized :class:`RecordBatch` es, one per page of each slice.

        Every slice yields at least one batch (possibly empty), and its last
        batch has ``last`` set, so a caller can checkpoint per slice.
        """
        self.progress = progress = RecordProgress(slices=len(self.slices))
        instrument = self._instrument
        # Never made current here: this generator yields to its consumer; each fetch makes it
        # current around its own request instead (see _slice_fetch).
        span = instrument.operation(
            "laaffic.records",
            {
                "laaffic.records.slices": len(self.slices),
                "laaffic.records.page_size": self.page_size,
                "laaffic.records.concurrency": self.concurrency,
            },
        )
        sources = [self._slice_fetch(s, progress, span) for s in self.slices]
        chunks = walk_pages(
            sources,
            size=self.page_size,
            concurrency=self.concurrency,
            prefetch=self.prefetch,
            sort_key=_submit_time,
            identity=_voice_id,
            order=OrderTracker(),
            describe=lambda index: _describe(self.slices[index]),
            task_group=self._task_group(),
            resolve=self._resolver(progress, span),
        )
        error: BaseException | None = None
        try:
            async with aclosing(chunks):
                async for chunk in chunks:
                    owner = self.slices[chunk.source]
                    kept = _ids_in_order(_owned(owner, chunk.records))
                    progress.records += len(kept)
                    instrument.records_exported(len(kept))
                    if chunk.last:
                        progress.slices_done += 1
                    yield RecordBatch(owner, chunk.number, chunk.count, chunk.total, kept)
        except Exception as exc:
            error = exc
            raise
        finally:
            counts = {f"laaffic.records.{name}": getattr(progress, name) for name in _COUNTED}
            span.end(counts, error)

    async def _query(
        self,
        owner: TimeSlice,
        progress: RecordProgress,
        span: Operation,
        window: tuple[datetime, datetime],
        current: int,
        size: int,
        phone_name: str | None,
    ) -> RecordPage:
        """One page for ``owner``; an :class:`ApiError` gets the slice in its context."""
        progress.requests += 1
        try:
            with span.within():
                return await self._fetch(window[0], window[1], current, size, phone_name)
        except ApiError as exc:
            context = {
                **exc.context,
                "slice": owner.index,
                "slice_start": owner.query_start,
                "slice_end": owner.query_end,
            }
            raise type(exc)(exc.status, exc.reason, endpoint=exc.endpoint, context=context) from exc

    def _slice_fetch(
        self, owner: TimeSlice, progress: RecordProgress, span: Operation
    ) -> Fetch[CallRecord]:
        seen = False
        window = (owner.query_start, owner.query_end)

        async def fetch(current: int, size: int) -> PageLike[CallRecord]:
            nonlocal seen
            page = await self._query(owner, progress, span, window, current, size, self.phone_name)
            if not seen:
                seen = True
                progress.slices_seen += 1
                progress.total += page.total
            return page

        return fetch

    def _resolver(self, progress: RecordProgress, span: Operation) -> Resolve[CallRecord]:
        async def resolve(
            source: int, second: datetime, seen: Sequence[CallRecord]
        ) -> tuple[int, Sequence[CallRecord]]:
            progress.seconds_read += 1
            owner = self.slices[source]
            query = functools.partial(self._query, owner, progress, span)
            return await read_second(
                query, second, seen, phone_name=self.phone_name, earliest=owner.query_start
            )

        return resolve


def _owned(owner: TimeSlice, records: list[CallRecord]) -> list[CallRecord]:
    """The records ``owner`` owns; most pages lie wholly inside it, so check the extremes first."""
    if not records:
        return records
    times = [record.submit_time for record in records]
    # An owned interval has no holes: if the oldest and newest are owned, all are.
    if owner.owns(min(times)) and owner.owns(max(times)):
        return records
    return [record for record in records if owner.owns(record.submit_time)]


def _ids_in_order(records: list[CallRecord]) -> list[CallRecord]:
    """The records of each second by voice id: servers order a second's records arbitrarily,
    and an export resumed after a crash must write the same bytes."""
    if all(a.submit_time != b.submit_time for a, b in itertools.pairwise(records)):
        return records
    ordered: list[CallRecord] = []
    for _, second in itertools.groupby(records, key=_submit_time):
        ordered.extend(sorted(second, key=_voice_id))
    return ordered


def _describe(owner: TimeSlice) -> str:
    return f"slice {owner.index} ({owner.query_start.isoformat()} .. {owner.query_end.isoformat()})"


async def fetch_page(
    caller: Caller,
    start: datetime,
    end: datetime,
    *,
    current: int,
    size: int,
    sip_group_name: str | None,
    phone_name: str | None,
) -> RecordPage:
    """One raw recordSipQuery page (``AsyncClient.record_page``)."""
    request = record_query_request(
        start, end, current=current, size=size, sip_group_name=sip_group_name, phone_name=phone_name
    )
    data = await caller.request(request)
    try:
        return structure(data, RecordPage)
    except Exception as exc:
        raise ResponseFormatError(
            f"page does not match the documented shape: {exc}", endpoint=request.endpoint
        ) from exc


def stream(
    caller: Caller,
    task_group: Callable[[], anyio.abc.TaskGroup | None],
    start: datetime,
    end: datetime,
    *,
    sip_group_name: str | None,
    phone_name: str | None,
    page_size: int,
    concurrency: int,
) -> RecordStream:
    """``AsyncClient.records``: pages through ``caller``, workers in ``task_group()``."""

    async def fetch(
        query_start: datetime, query_end: datetime, current: int, size: int, phone: str | None
    ) -> RecordPage:
        return await fetch_page(
            caller,
            query_start,
            query_end,
            current=current,
            size=size,
            sip_group_name=sip_group_name,
            phone_name=phone,
        )

    return RecordStream(
        fetch,
        start,
        end,
        now=caller.now(),
        page_size=page_size,
        concurrency=concurrency,
        sip_group_name=sip_group_name,
        phone_name=phone_name,
        task_group=task_group,
        instrumentation=caller.instrumentation,
    )
