"""client.records() against a sandbox that orders the records of one second at random per query.

``SandboxState(unstable_ties=True)``: what ``ORDER BY submitTime DESC`` under
LIMIT/OFFSET without a tiebreaker may do.  Busy seconds (bursts of up to 60
calls) are split by page boundaries all the time, so a paginator that trusts
positions inside a second doubles some records and drops others.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import anyio.lowlevel
import pytest

from laaffic_async import AsyncClient, PaginationError, RecordPage, RecordStream, RetryPolicy
from laaffic_async._core.converter import structure
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Faults,
    LiveCalls,
    Sandbox,
    SandboxState,
    SandboxTransport,
    add_call,
    live_calls,
    seed_records,
    serve_in_thread,
)

from .test_records import naive_export

pytestmark = pytest.mark.anyio

DAY = timedelta(days=1)
RETRY = RetryPolicy(attempts=10, base_delay=0.001, max_delay=0.005)


def whole_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def client_for(target: Sandbox | str) -> AsyncClient:
    if isinstance(target, str):
        return AsyncClient(
            SAMPLE_API_KEY, SAMPLE_API_SECRET, app_id=SAMPLE_APP_ID, base_url=target, retry=RETRY
        )
    return AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(target),
        retry=RETRY,
    )


def ticking_sandbox(now: datetime) -> Sandbox:
    """Unstable ties; the clock runs 20 ms per reading, so live calls spread over seconds."""
    ticks = itertools.count()
    state = SandboxState(unstable_ties=True, clock=lambda: now.timestamp() + 0.02 * next(ticks))
    return Sandbox(state)


async def busy_export(
    records: int, seed: int, every: int, concurrency: int
) -> tuple[RecordStream, Counter[str], list[str], LiveCalls, Sandbox]:
    """Bursts of up to 60 a second over 58 days, 5% faults, calls placed meanwhile, a socket."""
    now = whole_now()
    sandbox = ticking_sandbox(now)
    before = seed_records(sandbox, records, now - 58 * DAY, now, seed=seed, burst=60)
    sandbox.faults = Faults(error_rate=0.05, seed=seed)
    calls = live_calls(sandbox, every=every, count=2)
    with serve_in_thread(sandbox) as url:
        async with client_for(url) as client:
            stream = client.records(now - 58 * DAY, now + DAY, concurrency=concurrency)
            got = Counter([record.voice_id async for record in stream])
    assert calls.inserted
    assert sandbox.faults.injected > 5
    assert all(got[voice_id] == 1 for voice_id in before)
    assert set(got) - set(before) <= set(calls.inserted)
    assert got.most_common(1)[0][1] == 1
    return stream, got, before, calls, sandbox


async def test_over_a_socket_with_bursts_faults_and_live_calls_every_record_once() -> None:
    stream, *_ = await busy_export(8_000, seed=21, every=3, concurrency=6)
    assert stream.progress.seconds_read > 0  # ambiguous seconds really were read on their own


async def test_a_naive_walk_gets_a_wrong_set_from_the_same_server() -> None:
    # The switch matters: concurrent pages deduplicated by id lose records here.
    now = whole_now()
    sandbox = Sandbox(SandboxState(unstable_ties=True))
    ids = seed_records(sandbox, 3_000, now - 20 * DAY, now, seed=5, burst=60)
    async with client_for(sandbox) as client:
        stream = client.records(now - 20 * DAY, now)
        naive = set(await naive_export(client, stream.slices))
        exact = [record.voice_id async for record in stream]
    assert set(ids) - naive  # records lost by the naive walk
    assert sorted(exact) == sorted(ids)


async def test_stable_ties_cost_no_read_of_a_second() -> None:
    now = whole_now()
    sandbox = Sandbox()
    ids = seed_records(sandbox, 3_000, now - 20 * DAY, now, seed=6, burst=60)
    async with client_for(sandbox) as client:
        stream = client.records(now - 20 * DAY, now)
        got = [record.voice_id async for record in stream]
    assert sorted(got) == sorted(ids)
    assert stream.progress.seconds_read == 0


@pytest.mark.parametrize("entered", [True, False], ids=["entered", "not_entered"])
async def test_a_second_of_more_than_a_page_is_read_account_by_account(entered: bool) -> None:
    now = whole_now()
    sandbox = Sandbox(SandboxState(unstable_ties=True))
    ids = seed_records(sandbox, 2_000, now - 3 * DAY, now - DAY, seed=7, burst=30)
    crowded = now - DAY // 2
    ids += [add_call(sandbox, crowded) for _ in range(260)]  # 260 calls, 50 accounts, 1 second
    client = client_for(sandbox)
    if entered:
        async with client:
            got = [r.voice_id async for r in client.records(now - 3 * DAY, now, page_size=50)]
    else:
        got = [r.voice_id async for r in client.records(now - 3 * DAY, now, page_size=50)]
        await client.aclose()
    assert sorted(got) == sorted(ids)


async def test_a_second_too_crowded_to_read_whole_is_refused_naming_it() -> None:
    now = whole_now()
    sandbox = Sandbox(SandboxState(unstable_ties=True))
    crowded = now - DAY
    seed_records(sandbox, 300, crowded, crowded, seed=8)  # 300 records in one second
    for row in sandbox.state.records:
        row["phoneName"] = "sip001"  # of one account: more than a page, not splittable
    async with client_for(sandbox) as client:
        with pytest.raises(PaginationError, match=re.escape(f"second {crowded.isoformat()}")):
            [r async for r in client.records(now - 2 * DAY, now)]
        with pytest.raises(PaginationError, match="more than one page"):
            [r async for r in client.records(now - 2 * DAY, now, phone_name="sip001")]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # one slower run at the size
async def test_50000_records_in_bursts_over_58_days_through_a_socket() -> None:
    stream, got, *_ = await busy_export(50_000, seed=22, every=5, concurrency=8)
    assert len(stream.slices) == 2
    assert len(got) >= 50_000


async def test_a_server_that_excludes_the_window_end_still_gives_each_second_whole() -> None:
    # [t, t] returns nothing from such a server: the second is read with its neighbours.
    now = whole_now()
    sandbox = Sandbox(SandboxState(unstable_ties=True))
    ids = seed_records(sandbox, 1_500, now - 2 * DAY, now - DAY, seed=9, burst=30)
    store, shuffle = sandbox.state.records, random.Random(5)

    async def fetch(
        start: datetime, end: datetime, current: int, size: int, phone: str | None
    ) -> RecordPage:
        await anyio.lowlevel.checkpoint()
        found = store.window(start.timestamp(), end.timestamp() - 1)  # endTime exclusive
        rows = store.page(found, current, size, shuffle)
        body = {"total": len(found), "size": size, "current": current, "records": rows}
        return structure({**body, "pages": -(-len(found) // size)}, RecordPage)

    stream = RecordStream(fetch, now - 3 * DAY, now, now=now.timestamp(), page_size=40)
    got = [record.voice_id async for record in stream]
    assert sorted(got) == sorted(ids)
    assert stream.progress.seconds_read > 0


def test_the_store_shuffles_a_second_afresh_per_query_only_when_asked() -> None:
    now = whole_now()
    sandbox = Sandbox()
    seed_records(sandbox, 50, now - DAY, now - DAY, seed=1)  # one second
    seed_records(sandbox, 10, now - 2 * DAY, now - 2 * DAY, seed=2)
    store, rng = sandbox.state.records, random.Random(3)
    every = store.window((now - 3 * DAY).timestamp(), now.timestamp())

    def ids(current: int, shuffle: random.Random | None) -> list[str]:
        return [row["voiceId"] for row in store.page(every, current, 20, shuffle)]

    assert ids(1, None) == ids(1, None)
    assert ids(1, rng) != ids(1, rng)
    # Pages 1 to 3 of one unshuffled query cover the 60 rows; shuffled, the second is
    # reordered per query, so the pages' union misses some of it while the counts match.
    assert len({*ids(1, None), *ids(2, None), *ids(3, None)}) == 60
    shuffled = [ids(page, rng) for page in (1, 2, 3)]
    assert [len(page) for page in shuffled] == [20, 20, 20]
    assert len({*shuffled[0], *shuffled[1], *shuffled[2]}) < 60  # seeded: the same every run
    newest = [row["submitTime"] for row in store.page(every, 1, 60, rng)]
    assert newest == sorted(newest, reverse=True)  # still newest first across seconds
