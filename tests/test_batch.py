"""The batch machinery with a fake ``send``: scheduling, busy accounts, input, stopping."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import pytest

from laaffic_async import (
    Batch,
    BatchProgress,
    Call,
    CallOutcome,
    InvalidParameterError,
    OutcomeUnknownError,
    PlacedCall,
    RequestValidationError,
    SipBusyError,
)
from laaffic_async._dialing.batch import BatchOptions, stream_outcomes

pytestmark = pytest.mark.anyio


def call(i: int, account: str | None = None) -> Call:
    return Call(callee=f"9321{i:08d}", account=account or f"acct{i}")


class FakeApi:
    """A stand-in for ``AsyncClient.place`` that remembers what it was asked."""

    def __init__(self, latency: float = 0.0, call_seconds: float = 0.0) -> None:
        self.latency = latency
        self.call_seconds = call_seconds
        self.sent: list[Call] = []
        self.placed: Counter[str] = Counter()
        self.busy_until: dict[str, float] = {}
        self.in_flight = 0
        self.peak = 0
        self.per_account: Counter[str] = Counter()
        self.peak_per_account = 0
        self.fail: dict[str, Exception] = {}
        self.delays: dict[str, float] = {}

    async def send(self, call: Call) -> PlacedCall:
        self.sent.append(call)
        self.in_flight += 1
        self.per_account[call.account] += 1
        self.peak = max(self.peak, self.in_flight)
        self.peak_per_account = max(self.peak_per_account, self.per_account[call.account])
        try:
            await anyio.sleep(self.delays.get(call.callee, self.latency))
            if call.callee in self.fail:
                raise self.fail[call.callee]
            now = anyio.current_time()
            if self.busy_until.get(call.account, 0.0) > now:
                raise SipBusyError("-68", "not idle", endpoint="voice/sendSip")
            self.busy_until[call.account] = now + self.call_seconds
            self.placed[call.callee] += 1
            return PlacedCall(voice_id=f"v{call.callee}", call=call)
        finally:
            self.in_flight -= 1
            self.per_account[call.account] -= 1


async def collect(
    api: FakeApi, calls: object, progress: object = None, **options: object
) -> list[CallOutcome]:
    async with anyio.create_task_group() as tg:
        batch = Batch(calls, api.send, BatchOptions(**options), tg, progress)  # type: ignore[arg-type]
        async with batch:
            outcomes = [outcome async for outcome in batch]
    return outcomes


async def test_every_call_gets_one_outcome() -> None:
    api = FakeApi(latency=0.05)
    outcomes = await collect(api, [call(i) for i in range(200)], concurrency=20)
    assert len(outcomes) == 200
    assert all(o.ok and o.voice_id == f"v{o.call.callee}" for o in outcomes)
    assert sorted(o.index or 0 for o in outcomes) == list(range(200))
    assert set(api.placed.values()) == {1}
    assert api.peak == 20


async def test_outcomes_come_in_completion_order_by_default() -> None:
    api = FakeApi()
    api.delays = {call(0).callee: 0.2}
    outcomes = await collect(api, [call(i) for i in range(5)], concurrency=5)
    assert outcomes[-1].index == 0


async def test_ordered_yields_in_input_order() -> None:
    api = FakeApi()
    api.delays = {call(i).callee: 0.002 * (10 - i % 10) for i in range(30)}
    outcomes = await collect(api, [call(i) for i in range(30)], concurrency=10, ordered=True)
    assert [o.index for o in outcomes] == list(range(30))
    assert [o.call for o in outcomes] == [call(i) for i in range(30)]


async def test_ordered_look_ahead_is_bounded() -> None:
    api = FakeApi(latency=0.001)
    api.delays = {call(0).callee: 0.3}
    read = 0

    def calls() -> Iterator[Call]:
        nonlocal read
        for i in range(100):
            read += 1
            yield call(i)

    async with anyio.create_task_group() as tg:
        options = BatchOptions(concurrency=4, ordered=True, lookahead=8)
        async with Batch(calls(), api.send, options, tg) as batch:
            first = await batch.__anext__()
            # The slow head call held the window: at most `lookahead` (+1 in hand) were read.
            assert first.index == 0
            assert read <= 9
            rest = [o async for o in batch]
    assert [o.index for o in rest] == list(range(1, 100))


async def test_failures_are_outcomes_and_do_not_stop_the_batch() -> None:
    api = FakeApi()
    api.fail = {
        call(1).callee: InvalidParameterError("-22", "bad", endpoint="voice/sendSip"),
        call(2).callee: OutcomeUnknownError("dropped", endpoint="voice/sendSip", request=None),
        call(3).callee: ZeroDivisionError("a bug"),
    }
    outcomes = {o.index: o for o in await collect(api, [call(i) for i in range(6)])}
    assert isinstance(outcomes[1].error, InvalidParameterError)
    assert isinstance(outcomes[2].error, OutcomeUnknownError)
    # An exception the SDK does not know: the call may have left, so "unknown", never "failed".
    assert isinstance(outcomes[3].error, OutcomeUnknownError)
    assert isinstance(outcomes[3].error.__cause__, ZeroDivisionError)
    assert {i for i, o in outcomes.items() if o.ok} == {0, 4, 5}  # in any completion order
    assert not outcomes[1].ok
    assert outcomes[1].voice_id is None


async def test_busy_accounts_are_retried_until_placed() -> None:
    api = FakeApi(latency=0.001, call_seconds=0.02)
    calls = [call(i, account=f"a{i % 4}") for i in range(20)]
    progress = BatchProgress()
    outcomes = await collect(api, calls, concurrency=8, busy_delay=0.005, progress=progress)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert set(api.placed.values()) == {1}
    assert progress.busy > 0
    assert progress.busy == sum(o.attempts - 1 for o in outcomes)
    assert api.peak_per_account == 1


async def test_busy_wait_holds_no_slot_and_other_accounts_go_on() -> None:
    api = FakeApi()
    api.busy_until["slow"] = anyio.current_time() + 0.5
    calls = [call(0, "slow"), *(call(i, f"b{i}") for i in range(1, 6))]
    outcomes = await collect(api, calls, concurrency=1, busy_delay=0.01)
    # With a single slot, the five other accounts were all served while "slow" rested.
    assert [o.index for o in outcomes] == [1, 2, 3, 4, 5, 0]
    assert outcomes[-1].ok
    assert outcomes[-1].attempts > 1


async def test_one_per_account_can_be_switched_off() -> None:
    api = FakeApi(latency=0.05)
    calls = [call(i, account="same") for i in range(10)]
    await collect(api, calls, concurrency=5, one_per_account=False)
    assert api.peak_per_account == 5
    api = FakeApi(latency=0.005)
    await collect(api, calls, concurrency=5)
    assert api.peak_per_account == 1


async def test_busy_timeout_gives_up_with_the_busy_error() -> None:
    api = FakeApi()
    api.busy_until["a"] = anyio.current_time() + 60
    outcomes = await collect(api, [call(0, "a")], busy_delay=0.01, busy_timeout=0.05)
    assert isinstance(outcomes[0].error, SipBusyError)
    assert 1 < outcomes[0].attempts < 20


async def test_no_busy_retry_when_switched_off() -> None:
    api = FakeApi()
    api.busy_until["a"] = anyio.current_time() + 60
    outcomes = await collect(api, [call(0, "a")], retry_busy=False)
    assert isinstance(outcomes[0].error, SipBusyError)
    assert outcomes[0].attempts == 1


async def test_input_is_read_lazily() -> None:
    read = 0

    def endless() -> Iterator[Call]:
        nonlocal read
        for i in itertools.count():
            read += 1
            yield call(i % 10_000_000)

    api = FakeApi(latency=0.001)
    async with anyio.create_task_group() as tg:
        options = BatchOptions(concurrency=10, lookahead=40)
        async with Batch(endless(), api.send, options, tg) as batch:
            async for outcome in batch:
                if outcome.index == 5:
                    break
    # At most the look-ahead plus what was delivered (and one in hand) was ever read.
    assert read <= 40 + 10 + 1


async def test_async_iterable_input() -> None:
    async def calls() -> AsyncIterator[Call]:
        for i in range(30):
            await anyio.lowlevel.checkpoint()
            yield call(i)

    outcomes = await collect(FakeApi(), calls(), concurrency=4)
    assert sorted(o.index or 0 for o in outcomes) == list(range(30))


async def test_a_non_call_item_stops_the_input_after_draining() -> None:
    api = FakeApi(latency=0.001)
    items: list[object] = [call(0), call(1), {"callee": "932100000002", "account": "x"}, call(3)]
    seen: list[CallOutcome] = []

    async def consume(batch: Batch) -> None:
        async for outcome in batch:
            seen.append(outcome)

    async with (
        anyio.create_task_group() as tg,
        Batch(items, api.send, BatchOptions(), tg) as batch,  # type: ignore[arg-type]
    ):
        with pytest.raises(RequestValidationError) as info:
            await consume(batch)
    assert info.value.field == "calls"
    assert "dict" in info.value.rule
    assert sorted(o.index or 0 for o in seen) == [0, 1]
    # The bad item and everything after it were never sent.
    assert sorted(c.callee for c in api.sent) == [call(0).callee, call(1).callee]


async def test_a_row_that_fails_validation_in_the_callers_generator() -> None:
    def calls() -> Iterator[Call]:
        yield call(0)
        yield Call(callee="12", account="a")  # raises here, inside the caller's generator

    api = FakeApi()
    seen: list[CallOutcome] = []

    async def consume(tg: anyio.abc.TaskGroup) -> None:
        async for outcome in stream_outcomes(Batch(calls(), api.send, BatchOptions(), tg)):
            seen.append(outcome)

    async with anyio.create_task_group() as tg:
        with pytest.raises(RequestValidationError) as info:
            await consume(tg)
    assert info.value.field == "callee"
    assert [o.index for o in seen] == [0]
    assert len(api.sent) == 1


async def test_progress_callback_sees_every_call() -> None:
    api = FakeApi()
    api.fail = {call(3).callee: InvalidParameterError("-22", "bad", endpoint="voice/sendSip")}
    snapshots: list[tuple[int, int]] = []

    def on_progress(progress: BatchProgress) -> None:
        snapshots.append((progress.placed, progress.failed))
        if progress.done == 2:
            raise RuntimeError("a broken callback must not break the batch")

    outcomes = await collect(api, [call(i) for i in range(8)], progress=on_progress)
    assert len(outcomes) == 8
    assert len(snapshots) == 8
    assert snapshots[-1] == (7, 1)


async def test_progress_counters_add_up() -> None:
    api = FakeApi()
    api.fail = {
        call(0).callee: InvalidParameterError("-22", "bad", endpoint="voice/sendSip"),
        call(1).callee: OutcomeUnknownError("dropped", endpoint="voice/sendSip", request=None),
    }
    progress = BatchProgress()
    await collect(api, [call(i) for i in range(10)], progress=progress)
    assert (progress.read, progress.placed, progress.failed, progress.unknown) == (10, 8, 1, 1)
    assert progress.done == 10
    assert progress.pending == 0
    assert progress.in_flight == 0
    assert progress.finished_at is not None
    assert progress.rate > 0


async def test_break_stops_new_calls_and_cancels_those_in_flight() -> None:
    api = FakeApi(latency=0.02)
    api.delays = {call(i).callee: 5.0 for i in range(5, 1000)}
    progress = BatchProgress()
    async with anyio.create_task_group() as tg:
        options = BatchOptions(concurrency=8)
        async with Batch([call(i) for i in range(1000)], api.send, options, tg, progress) as batch:
            async for outcome in batch:
                if outcome.index == 4:
                    break
        tasks_after = len(anyio.get_running_tasks())
        sent = len(api.sent)
        await anyio.sleep(0.05)
        assert len(api.sent) == sent  # nothing new started after the block
    # Every request that started and did not finish was cut off, and counted as such.
    assert sum(api.placed.values()) == 5
    assert progress.cancelled == len(api.sent) - 5 > 0
    assert progress.in_flight == 0
    assert tasks_after == len(anyio.get_running_tasks())


async def test_generator_form_stops_when_the_consumer_is_cancelled() -> None:
    api = FakeApi(latency=0.01)
    progress = BatchProgress()
    got = 0
    async with anyio.create_task_group() as tg:
        calls = (call(i) for i in range(10_000))
        batch = Batch(calls, api.send, BatchOptions(concurrency=5), tg, progress)
        outcomes = stream_outcomes(batch)
        with anyio.move_on_after(0.1):
            async for _ in outcomes:
                got += 1
        with anyio.fail_after(5):
            # Polling on purpose: the generator's finalizer runs when the event loop decides.
            while progress.finished_at is None:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        sent = len(api.sent)
        await anyio.sleep(0.05)
        assert len(api.sent) == sent
    assert got <= sum(api.placed.values())
    assert progress.in_flight == 0


async def test_iterating_an_unstarted_batch_is_an_error() -> None:
    async with anyio.create_task_group() as tg:
        batch = Batch([call(0)], FakeApi().send, BatchOptions(), tg)
        with pytest.raises(RuntimeError, match="async with"):
            await batch.__anext__()


async def test_starting_without_a_task_group_is_an_error() -> None:
    batch = Batch([call(0)], FakeApi().send, BatchOptions(), None)
    with pytest.raises(RuntimeError, match="async with AsyncClient"):
        batch._start()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("concurrency", 0),
        ("concurrency", 2.5),
        ("calls_per_second", 0),
        ("calls_per_second", float("nan")),
        ("busy_timeout", -1),
        ("busy_delay", 0),
        ("retry_busy", "yes"),
        ("ordered", 1),
        ("one_per_account", None),
        ("lookahead", 10),
    ],
)
def test_bad_options_are_refused(field: str, value: object) -> None:
    with pytest.raises(RequestValidationError) as info:
        BatchOptions(**{"concurrency": 20, field: value})  # type: ignore[arg-type]
    assert info.value.field == field


def test_bad_calls_and_progress_are_refused() -> None:
    with pytest.raises(RequestValidationError) as info:
        Batch(42, FakeApi().send, BatchOptions(), None)  # type: ignore[arg-type]
    assert info.value.field == "calls"
    with pytest.raises(RequestValidationError) as info:
        Batch("932111111111", FakeApi().send, BatchOptions(), None)  # type: ignore[arg-type]
    assert info.value.field == "calls"
    with pytest.raises(RequestValidationError) as info:
        Batch([], FakeApi().send, BatchOptions(), None, progress=3)  # type: ignore[arg-type]
    assert info.value.field == "progress"


async def test_an_input_that_cannot_even_start_is_raised() -> None:
    class Broken:
        def __iter__(self) -> Iterator[Call]:
            raise OSError("the file is gone")

    async def consume(batch: Batch) -> None:
        async for _ in batch:
            pass

    async with (
        anyio.create_task_group() as tg,
        Batch(Broken(), FakeApi().send, BatchOptions(), tg) as batch,
    ):
        with pytest.raises(OSError, match="the file is gone"):
            await consume(batch)
