"""AsyncClient.send_many against the in-process sandbox, on asyncio and trio.

The sandbox is the referee: it counts every dial per callee (exactly once),
the requests in flight (never above ``concurrency``) and per account (never
two), and the faults it injected (dropped connections = unknown outcomes).
The same over a real socket: ``test_send_many_socket.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest

from laaffic_async import (
    AsyncClient,
    BatchProgress,
    Call,
    CallOutcome,
    OutcomeUnknownError,
    RequestValidationError,
)
from laaffic_async.testing import Faults, Sandbox, SandboxTransport

from .batch_support import APP, KEY, SECRET, assert_exactly_once, calls, finalized, make_client

pytestmark = pytest.mark.anyio

# -- the volume test: 5,000 calls, 500 accounts, concurrency 100 --------------------------------


async def test_5000_calls_500_accounts_in_process(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(latency=0.001)
    async with make_client(sandbox) as client:
        outcomes = [o async for o in client.send_many(calls(5000, 500), concurrency=100)]
    assert_exactly_once(sandbox, outcomes, 5000)
    assert sandbox.state.peak_in_flight <= 100


# -- limits ----------------------------------------------------------------------------------------


async def test_peak_in_flight_reaches_concurrency_never_more(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(latency=0.2)
    async with make_client(sandbox) as client:
        outcomes = [o async for o in client.send_many(calls(200, 200), concurrency=40)]
    assert len(outcomes) == 200
    assert sandbox.state.peak_in_flight == 40


async def test_calls_per_second_holds_within_ten_percent(sandbox: Sandbox) -> None:
    arrivals: list[float] = []

    class Stamping(SandboxTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            arrivals.append(anyio.current_time())
            return await super().handle_async_request(request)

    async with AsyncClient(
        KEY, SECRET, app_id=APP, base_url="http://s/v3", transport=Stamping(sandbox)
    ) as client:
        batch = client.send_many(calls(61, 61), concurrency=10, calls_per_second=20.0)
        outcomes = [o async for o in batch]
    assert len(outcomes) == 61
    # 60 intervals over ~3 s; the limiter's spacing does not drift, so only the two
    # end points' scheduling jitter counts.
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert 18.0 <= rate <= 22.0, rate


# -- retry safety ----------------------------------------------------------------------------------


async def test_dropped_connections_are_unknown_and_never_redialed(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(drop_rate=0.05, seed=3)
    async with make_client(sandbox) as client:
        outcomes = [o async for o in client.send_many(calls(1000, 100), concurrency=50)]
    unknown = [o for o in outcomes if isinstance(o.error, OutcomeUnknownError)]
    assert sandbox.faults.injected > 20
    assert len(unknown) == sandbox.faults.injected
    assert all(o.attempts == 1 for o in unknown)
    # Each call dialed at most once: the dropped ones too (the work was done), never twice.
    assert set(sandbox.state.dials_by_callee.values()) == {1}
    assert sandbox.state.requests["voice/sendSip"] == 1000
    assert sum(o.ok for o in outcomes) == 1000 - sandbox.faults.injected


async def test_busy_accounts_are_retried_until_placed(sandbox: Sandbox) -> None:
    # A call keeps its account busy at the server for 0.1 s after the answer, so the next
    # call on that account (10 per account) meets -68 whatever the machine's speed.
    sandbox.state.call_seconds = 0.1
    async with make_client(sandbox) as client:
        batch = client.send_many(calls(100, 10), concurrency=20, busy_delay=0.01)
        outcomes = [o async for o in batch]
    assert all(o.ok for o in outcomes)
    assert set(sandbox.state.dials_by_callee.values()) == {1}
    assert len(sandbox.state.dials_by_callee) == 100
    assert sandbox.state.busy_answers > 0
    # Every extra attempt was a -68 (nothing dialed), and only those were retried.
    assert sum(o.attempts - 1 for o in outcomes) == sandbox.state.busy_answers
    assert sandbox.state.requests["voice/sendSip"] == 100 + sandbox.state.busy_answers
    assert sandbox.state.peak_account_in_flight == 1


async def test_busy_without_retry_is_a_failed_outcome(sandbox: Sandbox) -> None:
    sandbox.state.call_seconds = 60
    async with make_client(sandbox) as client:
        batch = client.send_many(calls(6, 2), concurrency=2, retry_busy=False)
        outcomes = [o async for o in batch]
    assert sum(o.ok for o in outcomes) == 2
    assert {type(o.error).__name__ for o in outcomes if not o.ok} == {"SipBusyError"}
    assert sandbox.state.dials == 2


# -- input -----------------------------------------------------------------------------------------


async def test_ten_million_calls_are_not_materialised(sandbox: Sandbox) -> None:
    read = 0

    def ten_million() -> Iterator[Call]:
        nonlocal read
        for i in range(10_000_000):
            read += 1
            yield Call(callee=f"93{i:010d}", account=f"a{i % 1000}")

    got: list[CallOutcome] = []
    async with (
        make_client(sandbox) as client,
        client.batch(ten_million(), concurrency=10) as outcomes,
    ):
        async for outcome in outcomes:
            got.append(outcome)
            if len(got) == 5:
                break
    # At most the look-ahead (4 x concurrency), what was delivered and one in hand.
    assert read <= 4 * 10 + 5 + 1
    assert sandbox.state.dials <= read


async def test_ordered_yields_in_input_order(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(latency=0.001, jitter=0.01, seed=5)
    async with make_client(sandbox) as client:
        batch = client.send_many(calls(150, 150), concurrency=15, ordered=True)
        outcomes = [o async for o in batch]
    assert [o.index for o in outcomes] == list(range(150))
    assert [o.call.callee for o in outcomes] == [c.callee for c in calls(150, 150)]


async def test_bad_items_are_refused_before_sending(sandbox: Sandbox) -> None:
    items: list[object] = [
        Call("932100000001", "a"),
        Call("932100000002", "b"),
        {"callee": "12", "account": "c"},
        Call("932100000004", "d"),
    ]
    got: list[CallOutcome] = []

    async def consume(client: AsyncClient) -> None:
        async for outcome in client.send_many(items):  # type: ignore[arg-type]
            got.append(outcome)

    async with make_client(sandbox) as client:
        with pytest.raises(RequestValidationError) as info:
            await consume(client)
    assert info.value.field == "calls"
    assert sorted(o.call.callee for o in got) == ["932100000001", "932100000002"]
    assert sandbox.state.requests["voice/sendSip"] == 2


async def test_a_call_without_app_id_fails_alone(sandbox: Sandbox) -> None:
    async with make_client(sandbox, app_id=None) as client:
        batch = [Call("932100000001", "a", app_id=APP), Call("932100000002", "b")]
        outcomes = {o.index: o for o in [o async for o in client.send_many(batch)]}
    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, RequestValidationError)
    assert outcomes[1].error.field == "appId"
    assert sandbox.state.requests["voice/sendSip"] == 1


async def test_bad_options_are_refused_at_the_call(client: AsyncClient, sandbox: Sandbox) -> None:
    with pytest.raises(RequestValidationError) as info:
        client.send_many(calls(3, 3), calls_per_second=0)
    assert info.value.field == "calls_per_second"
    with pytest.raises(RequestValidationError) as info:
        client.send_many(calls(3, 3), busy_timeout=-1)
    assert info.value.field == "busy_timeout"
    assert sum(sandbox.state.requests.values()) == 0


async def test_send_many_needs_the_client_entered(sandbox: Sandbox) -> None:
    client = make_client(sandbox)
    with pytest.raises(RuntimeError, match="async with AsyncClient"):
        client.send_many(calls(3, 3))
    await client.aclose()


# -- stopping early --------------------------------------------------------------------------------


async def test_cancelling_the_consumer_stops_the_batch(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(latency=0.02)
    progress = BatchProgress()
    got = 0
    async with make_client(sandbox) as client:
        tasks_before = len(anyio.get_running_tasks())
        with anyio.move_on_after(0.3) as scope:
            async for _ in client.send_many(
                calls(100_000, 1000), concurrency=20, progress=progress
            ):
                got += 1
        assert scope.cancelled_caught
        await finalized(progress, tasks_before)
        dials = sandbox.state.dials
        await anyio.sleep(0.1)
        assert sandbox.state.dials == dials
    assert 0 < got <= progress.placed
    assert progress.read < 100_000


async def test_closing_the_client_interrupts_a_batch_loudly(sandbox: Sandbox) -> None:
    sandbox.faults = Faults(latency=0.02)
    client = make_client(sandbox)
    errors: list[BaseException] = []

    async def consume() -> None:
        try:
            async for _ in client.send_many(calls(10_000, 100), concurrency=10):
                pass
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        await client.__aenter__()
        tg.start_soon(consume)
        await anyio.sleep(0.1)
        await client.__aexit__(None, None, None)
    assert len(errors) == 1
    assert "interrupted" in str(errors[0])


async def test_errors_in_the_client_block_are_not_wrapped(sandbox: Sandbox) -> None:
    with pytest.raises(KeyError):
        async with make_client(sandbox):
            raise KeyError("plain")


async def test_the_client_cannot_be_entered_twice(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        with pytest.raises(RuntimeError, match="already entered"):
            await client.__aenter__()
