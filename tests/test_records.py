"""client.records(): sliced, concurrent, exactly-once paging against the sandbox."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from laaffic_async import (
    AsyncClient,
    CallRecord,
    InvalidParameterError,
    RecordPage,
    RecordStream,
    RequestValidationError,
    RetryPolicy,
    TimeRangeError,
    TimeSlice,
)
from laaffic_async.testing import (
    Faults,
    RecordStore,
    Sandbox,
    SandboxState,
    SandboxTransport,
    live_calls,
    seed_records,
)

pytestmark = pytest.mark.anyio

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
MAX_QUERY = 31 * 86400
HORIZON = 60 * 86400
# Patient but fast: a 10% failure rate must not exhaust the attempts of any page.
RETRY = RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.005)


def make_client(sandbox: Sandbox) -> AsyncClient:
    return AsyncClient(
        "bDqJFiq9",
        "7bz1lzh9",
        app_id="4luaKsL2",
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
        retry=RETRY,
    )


def whole_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def submitted(sandbox: Sandbox, voice_id: str) -> datetime:
    row = sandbox.state.records.get(voice_id)
    assert row is not None
    return datetime.fromisoformat(row["submitTime"])


def seed_window(
    sandbox: Sandbox, count: int, start: datetime, end: datetime, slices: Sequence[TimeSlice]
) -> tuple[list[str], list[str]]:
    """Seed ``count`` rows, some exactly on (and one second around) every boundary.

    Returns (ids inside [start, end], ids of the boundary rows inside it).
    """
    edges = [start, end, *(s.start for s in slices[1:])]
    on = [edge + delta for edge in edges for delta in (-SECOND, timedelta(0), SECOND)]
    ids = seed_records(sandbox, count, start, end, on=on, seed=count)
    inside = [i for i in ids if start <= submitted(sandbox, i) <= end]
    boundary = [i for i in ids[: len(on)] if start <= submitted(sandbox, i) <= end]
    return inside, boundary


def assert_windows_legal(sandbox: Sandbox, began: float) -> None:
    windows = sandbox.state.query_windows
    assert windows
    assert max(end - start for start, end in windows) <= MAX_QUERY
    assert min(start for start, _ in windows) >= began - HORIZON


async def test_58_days_of_50000_records_come_out_complete_and_once() -> None:
    sandbox = Sandbox()
    now = whole_now()
    began = time.time()
    start, end = now - 58 * DAY, now
    async with make_client(sandbox) as client:
        stream = client.records(start, end, concurrency=4)
        assert len(stream.slices) == 2
        inside, boundary = seed_window(sandbox, 50_000, start, end, stream.slices)
        records = [record async for record in stream]
    got = Counter(record.voice_id for record in records)
    assert len(records) == len(inside) > 49_990
    assert set(got) == set(inside)
    assert got.most_common(1)[0][1] == 1
    assert len(boundary) == 7  # the boundary, start and end (each a second around, inside)
    assert all(got[voice_id] == 1 for voice_id in boundary)
    assert_windows_legal(sandbox, began)
    # Stable order: slice by slice, and within a slice the server's order (newest first).
    owner = [next(s.index for s in stream.slices if s.owns(r.submit_time)) for r in records]
    assert owner == sorted(owner)
    for index in range(len(stream.slices)):
        times = [r.submit_time for r, o in zip(records, owner, strict=True) if o == index]
        assert times == sorted(times, reverse=True)
    assert stream.progress.records == len(records)
    assert stream.progress.slices_done == 2
    assert stream.progress.total_known
    assert stream.progress.requests == sandbox.state.requests["voice/recordSipQuery"]


async def naive_export(client: AsyncClient, slices: Sequence[TimeSlice]) -> list[str]:
    """What the issue warns about: page 1, then the other pages concurrently, then dedupe."""
    seen: dict[str, None] = {}
    for owner in slices:
        first = await client.record_page(owner.query_start, owner.query_end, size=100)
        pages: list[RecordPage] = [first]

        async def fetch(
            current: int, window: TimeSlice = owner, pages: list[RecordPage] = pages
        ) -> None:
            pages.append(
                await client.record_page(
                    window.query_start, window.query_end, current=current, size=100
                )
            )

        async with anyio.create_task_group() as group:
            for current in range(2, first.pages + 1):
                group.start_soon(fetch, current)
        for page in pages:
            for record in page.records:
                if owner.owns(record.submit_time):
                    seen.setdefault(record.voice_id)
    return list(seen)


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest_first", "oldest_first"])
async def test_calls_placed_during_the_export_do_not_disturb_it(newest_first: bool) -> None:
    now = whole_now()
    start, end = now - 58 * DAY, now + DAY

    def scenario() -> tuple[Sandbox, list[str]]:
        # The sandbox's clock runs 20 ms per reading, so the calls placed meanwhile spread over
        # seconds as a dialer's do (a second of 1,000 calls is beyond what can be read whole).
        ticks = itertools.count()
        state = SandboxState(
            records=RecordStore(newest_first=newest_first),
            clock=lambda: now.timestamp() + 0.02 * next(ticks),
        )
        sandbox = Sandbox(state)
        ids = seed_records(sandbox, 10_000, start, now, seed=3)
        return sandbox, ids

    sandbox, before = scenario()
    # 10 calls before every 2nd query: over the ~50 pages of the newest slice far more than a
    # page's worth of rows slides, so a naive walk loses some whatever the page alignment.
    calls = live_calls(sandbox, every=2, count=10)
    async with make_client(sandbox) as client:
        stream = client.records(start, end, concurrency=6)
        records = [record async for record in stream]
    got = Counter(record.voice_id for record in records)
    assert calls.inserted  # calls really were placed while paging
    assert all(got[voice_id] == 1 for voice_id in before)
    assert set(got) - set(before) <= set(calls.inserted)
    assert got.most_common(1)[0][1] == 1
    last = [r.submit_time for r in records if stream.slices[-1].owns(r.submit_time)]
    assert last == sorted(last, reverse=newest_first)

    # The same scenario paged naively loses rows when the server pages newest first.
    sandbox, before = scenario()
    naive_calls = live_calls(sandbox, every=2, count=10)
    async with make_client(sandbox) as client:
        naive = set(await naive_export(client, stream.slices))
    assert naive_calls.inserted
    lost = set(before) - naive
    if newest_first:
        assert len(lost) > 0
    else:
        assert lost == set()  # appended rows move nothing: the trap needs newest first


async def test_ten_percent_failed_responses_still_give_a_complete_export() -> None:
    sandbox = Sandbox()
    now = whole_now()
    start, end = now - 58 * DAY, now
    ids = seed_records(sandbox, 8_000, start, end, seed=5)
    sandbox.faults = Faults(error_rate=0.05, drop_before_rate=0.05, seed=11)
    async with make_client(sandbox) as client:
        got = Counter([record.voice_id async for record in client.records(start, end)])
    assert sandbox.faults.injected > 5
    assert set(got) == set(ids)
    assert got.most_common(1)[0][1] == 1


async def test_out_of_range_is_a_time_range_error_naming_the_slice() -> None:
    # The server's clock runs three days ahead: the first slice is outside its horizon.
    ahead = SandboxState(clock=lambda: time.time() + 3 * 86400)
    sandbox = Sandbox(ahead)
    now = whole_now()
    async with make_client(sandbox) as client:
        stream = client.records(now - 58 * DAY, now)
        with pytest.raises(TimeRangeError) as info:
            [record async for record in stream]
    context = info.value.context
    assert context["slice"] == 0
    assert context["slice_start"] == stream.slices[0].query_start
    assert context["slice_end"] == stream.slices[0].query_end
    assert info.value.status == "-25"
    assert "slice_start=" in str(info.value)


async def test_parameter_error_is_raised_as_itself_with_the_slice() -> None:
    now = whole_now()
    calls: list[tuple[datetime, datetime, int]] = []

    async def fetch(
        start: datetime, end: datetime, current: int, size: int, phone: str | None
    ) -> RecordPage:
        calls.append((start, end, current))
        if start > now - 20 * DAY:
            raise InvalidParameterError("-22", "Parameter exception", endpoint="voice/rsq")
        return RecordPage(total=0, size=size, current=current, pages=0, records=[])

    stream = RecordStream(fetch, now - 40 * DAY, now, now=now.timestamp())

    async def drain() -> None:
        async with aclosing(stream.pages()) as batches:
            async for _ in batches:
                pass

    with pytest.raises(InvalidParameterError) as info:
        await drain()
    assert info.value.context["slice"] == 1
    assert info.value.context["slice_start"] == stream.slices[1].query_start
    assert isinstance(info.value.__cause__, InvalidParameterError)
    assert info.value.endpoint == "voice/rsq"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": datetime(2026, 11, 1)}, "strTime"),
        ({"end": datetime(2026, 11, 1)}, "endTime"),
        ({"start": "now"}, "endTime"),
        ({"start": "ancient"}, "strTime"),
        ({"page_size": 0}, "size"),
        ({"page_size": 101}, "size"),
        ({"concurrency": 0}, "concurrency"),
        ({"phone_name": ""}, "phoneName"),
        ({"sip_group_name": " "}, "sipGroupName"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    kwargs: dict[str, object], field: str
) -> None:
    sandbox = Sandbox()
    now = whole_now()
    arguments: dict[str, object] = {"start": now - DAY, "end": now, **kwargs}
    if arguments["start"] == "now":
        arguments["start"], arguments["end"] = now, now - SECOND
    if arguments["start"] == "ancient":
        arguments["start"] = now - 61 * DAY
    async with make_client(sandbox) as client:
        with pytest.raises(RequestValidationError) as info:
            client.records(**arguments)  # type: ignore[arg-type]
    assert info.value.field == field
    assert sum(sandbox.state.requests.values()) == 0
    if kwargs.get("start") == "ancient":
        assert "earliest allowed time" in str(info.value)


async def test_pages_yield_batches_per_slice_with_last_flags() -> None:
    sandbox = Sandbox()
    now = whole_now()
    start, end = now - 40 * DAY, now
    ids = seed_records(sandbox, 1_234, start, end, seed=9)
    async with make_client(sandbox) as client:
        stream = client.records(start, end, page_size=50, concurrency=3)
        async with aclosing(stream.pages()) as pages:
            batches = [batch async for batch in pages]
    assert sorted(r.voice_id for b in batches for r in b.records) == sorted(ids)
    for owner in stream.slices:
        mine = [b for b in batches if b.slice == owner]
        assert [b.number for b in mine] == list(range(1, mine[0].count + 1))
        assert [b.last for b in mine][-1] is True
        assert not any(b.last for b in mine[:-1])
        assert all(owner.owns(r.submit_time) for b in mine for r in b.records)


async def test_an_empty_window_yields_one_empty_batch_per_slice() -> None:
    sandbox = Sandbox()
    now = whole_now()
    async with make_client(sandbox) as client:
        stream = client.records(now - 50 * DAY, now)
        async with aclosing(stream.pages()) as pages:
            batches = [batch async for batch in pages]
    assert [(b.slice.index, b.records, b.last) for b in batches] == [(0, [], True), (1, [], True)]
    assert stream.progress.slices_done == 2


async def test_filters_are_sent_and_concurrency_is_bounded() -> None:
    sandbox = Sandbox(faults=Faults(latency=0.001))
    now = whole_now()
    start, end = now - 10 * DAY, now
    ids = seed_records(sandbox, 3_000, start, end, seed=4)
    wanted = {i for i in ids if sandbox.state.records.get(i)["phoneName"] == "sip007"}  # type: ignore[index]
    async with make_client(sandbox) as client:
        everything = [r async for r in client.records(start, end, page_size=20, concurrency=3)]
        assert 2 <= sandbox.state.peak_in_flight <= 3
        only = [r async for r in client.records(start, end, phone_name="sip007")]
    assert len(everything) == 3_000
    assert {r.voice_id for r in only} == wanted
    assert all(r.phone_name == "sip007" for r in only)


async def test_an_entered_client_keeps_pages_in_flight_while_records_are_consumed() -> None:
    sandbox = Sandbox(faults=Faults(latency=0.01))
    now = whole_now()
    seed_records(sandbox, 2_000, now - 5 * DAY, now, seed=6)
    async with make_client(sandbox) as client:
        stream = client.records(now - 5 * DAY, now, page_size=10, concurrency=4)
        async with aclosing(stream.__aiter__()) as records:
            await records.__anext__()
            # The consumer is busy elsewhere; the client's workers fetch ahead meanwhile,
            # up to the prefetch bound (4 x concurrency pages) and no further.
            with anyio.fail_after(10):
                while sandbox.state.requests["voice/recordSipQuery"] < 1 + 16:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            await anyio.sleep(0.1)
            assert sandbox.state.requests["voice/recordSipQuery"] == 1 + 16
            assert sandbox.state.peak_in_flight == 4
        assert sandbox.state.in_flight == 0


async def test_a_client_that_is_not_entered_fetches_only_between_yields(sandbox: Sandbox) -> None:
    now = whole_now()
    ids = seed_records(sandbox, 1_000, now - 40 * DAY, now, seed=7)
    client = make_client(sandbox)
    try:
        stream = client.records(now - 40 * DAY, now, page_size=50, concurrency=4)
        async with aclosing(stream.__aiter__()) as records:
            first = await records.__anext__()
            sent = sandbox.state.requests["voice/recordSipQuery"]
            await anyio.sleep(0.05)
            # Nothing runs between two steps: no task group of the client's to run in.
            assert sandbox.state.requests["voice/recordSipQuery"] == sent
            rest = [record.voice_id async for record in records]
        assert sorted([first.voice_id, *rest]) == sorted(ids)
    finally:
        await client.aclose()


async def test_breaking_out_early_leaves_the_client_usable(sandbox: Sandbox) -> None:
    now = whole_now()
    seed_records(sandbox, 2_000, now - 5 * DAY, now, seed=2)
    async with make_client(sandbox) as client:
        stream = client.records(now - 5 * DAY, now, page_size=10, concurrency=4)
        async with aclosing(stream.__aiter__()) as records:
            async for record in records:
                assert isinstance(record, CallRecord)
                break
        assert sandbox.state.in_flight == 0
        page = await client.record_page(now - DAY, now, size=1)
    assert page.total > 0


async def test_over_a_real_socket(socket_client: AsyncClient, sandbox: Sandbox) -> None:
    now = whole_now()
    start, end = now - 45 * DAY, now
    ids = seed_records(sandbox, 3_000, start, end, seed=8)
    got = [r.voice_id async for r in socket_client.records(start, end, concurrency=8)]
    assert sorted(got) == sorted(ids)
    assert max(e - s for s, e in sandbox.state.query_windows) <= MAX_QUERY
