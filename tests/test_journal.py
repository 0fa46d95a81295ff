"""Crash-safe dialing: DialJournal, reconcile() and send_many(journal=...), on asyncio and trio.

The fault kinds are the sandbox's, over a real socket: a connection dropped
after the server placed the call, one dropped before it did anything, and a
502 answered before anything ran.  The sandbox's per-callee dial counter is
the ground truth for "nobody dialed twice".
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from laaffic_async import (
    AsyncClient,
    Call,
    CallOutcome,
    JournalError,
    NotPlacedError,
    OutcomeUnknownError,
    ReconcileError,
    RequestValidationError,
    RetryPolicy,
)
from laaffic_async.journal import DialJournal
from laaffic_async.testing import Faults, Sandbox, serve_in_thread

from .batch_support import make_client, socket_client

pytestmark = pytest.mark.anyio

SEND_SIP = frozenset({"voice/sendSip"})
# Each fault kind once, on sendSip only (keyword arguments: Faults count what they inject).
FAULTS = {
    "dropped after processing": {"drop_rate": 1.0},
    "dropped before processing": {"drop_before_rate": 1.0},
    "502 before processing": {"error_rate": 1.0, "error_status": 502},
}


def campaign(n: int, accounts: int = 10) -> list[Call]:
    return [
        Call(callee=f"9370{i:08d}", account=f"acct{i % accounts:02d}", ref=f"row-{i}")
        for i in range(n)
    ]


def mixed_faults(seed: int) -> Faults:
    return Faults(
        drop_rate=0.10,
        drop_before_rate=0.05,
        error_rate=0.04,
        error_status=502,
        endpoints=SEND_SIP,
        seed=seed,
    )


def server_voice_ids(sandbox: Sandbox) -> dict[str, str]:
    return {row["callee"]: row["voiceId"] for row in sandbox.state.records}


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_reconcile_decides_right_per_fault_kind(sandbox: Sandbox, kind: str) -> None:
    sandbox.faults = Faults(**FAULTS[kind], endpoints=SEND_SIP, limit=1)  # type: ignore[arg-type]
    placed_by_server = kind == "dropped after processing"
    with serve_in_thread(sandbox) as url:
        async with socket_client(url) as client:
            with pytest.raises(OutcomeUnknownError) as caught:
                await client.send_sip("937011111111", account="acct01")
            error = caught.value
            assert error.sent_at is not None
            assert error.sent_at.tzinfo is not None
            assert abs(error.sent_at.timestamp() - client.now()) < 30
            result = await client.reconcile(error, settle=0.3)
            # The outcome form works too, and says the same.
            again = await client.reconcile(CallOutcome(error.request, error=error), settle=0.3)  # type: ignore[arg-type]
    assert sandbox.state.dials == (1 if placed_by_server else 0)
    assert result.placed is placed_by_server
    assert again.placed is placed_by_server
    if placed_by_server:
        assert result.voice_id == server_voice_ids(sandbox)["937011111111"]
        assert result.record is not None
        assert result.record.callee == "937011111111"
    else:
        assert result.voice_id is None
        assert result.record is None
    # The query named the account and a narrow window around sent_at.
    start, end = sandbox.state.query_windows[0]
    assert error.sent_at.timestamp() - 61 <= start
    assert end <= error.sent_at.timestamp() + 2


async def test_reconcile_waits_for_a_late_record(client: AsyncClient, sandbox: Sandbox) -> None:
    call = Call(callee="937022222222", account="acct02")
    sent = datetime.fromtimestamp(client.now(), UTC)
    unknown = OutcomeUnknownError("lost", endpoint="voice/sendSip", request=call, sent_at=sent)

    async def late_call() -> None:
        await anyio.sleep(0.3)  # the record appears after the first look, before settle ends
        await client.place(call)

    async with anyio.create_task_group() as tg:
        tg.start_soon(late_call)
        result = await client.reconcile(unknown, settle=1.0)
    assert result.placed
    assert result.voice_id == server_voice_ids(sandbox)[call.callee]


async def test_reconcile_raises_when_it_cannot_decide(sandbox: Sandbox) -> None:
    call = Call(callee="937033333333", account="acct03")
    async with make_client(sandbox, retry=RetryPolicy(attempts=1)) as client:
        old = datetime.fromtimestamp(client.now(), UTC) - timedelta(days=61)
        beyond = OutcomeUnknownError("x", endpoint="voice/sendSip", request=call, sent_at=old)
        with pytest.raises(ReconcileError, match="horizon"):
            await client.reconcile(beyond)
        sandbox.faults = Faults(error_rate=1.0, endpoints=frozenset({"voice/recordSipQuery"}))
        now = datetime.fromtimestamp(client.now(), UTC)
        fresh = OutcomeUnknownError("x", endpoint="voice/sendSip", request=call, sent_at=now)
        with pytest.raises(ReconcileError, match="could not be read"):
            await client.reconcile(fresh, settle=0)
        undated = OutcomeUnknownError("x", endpoint="voice/sendSip", request=call)
        with pytest.raises(ReconcileError, match="when the call was sent"):
            await client.reconcile(undated)
        with pytest.raises(RequestValidationError, match="outcome"):
            await client.reconcile(CallOutcome(call, voice_id="1"))
        with pytest.raises(RequestValidationError, match="settle"):
            await client.reconcile(fresh, settle=-1)


async def test_a_second_opener_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campaign.sqlite3"
    async with DialJournal(path):
        with pytest.raises(JournalError, match="in use by another dialer"):
            DialJournal(path)
        code = f"from laaffic_async.journal import DialJournal; DialJournal({str(path)!r})"
        other = await anyio.run_process([sys.executable, "-c", code], check=False)
        assert other.returncode != 0
        assert "JournalError: " in other.stderr.decode()
    async with DialJournal(path):  # released on close
        pass


async def test_validation_before_anything_is_sent(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    async with DialJournal(tmp_path / "j.sqlite3") as journal:
        no_ref = [Call(callee="937044444444", account="acct04"), *campaign(3)]
        with pytest.raises(RequestValidationError, match="ref: is required with a journal"):
            async for _ in client.send_many(no_ref, journal=journal):
                pass
        for bad in ({"ordered": True}, {"settle": -5.0}, {"redial_unplaced": "yes"}):
            with pytest.raises(RequestValidationError):
                client.send_many(campaign(2), journal=journal, **bad)
        with pytest.raises(RequestValidationError, match="journal"):
            client.send_many(campaign(2), journal="campaign.sqlite3")  # type: ignore[arg-type]
        assert sandbox.state.dials == 0
        # Like send_many without a journal: what was read before the bad row is finished
        # and reported, then the error is raised; nothing after it is read.
        late = [*campaign(3), Call(callee="937044444444", account="acct04"), *campaign(5)[3:]]
        seen: list[CallOutcome] = []
        with pytest.raises(RequestValidationError, match="item 3"):  # noqa: PT012
            async for outcome in client.send_many(late, journal=journal):
                seen.append(outcome)
        assert sorted(o.call.ref or "" for o in seen) == ["row-0", "row-1", "row-2"]
        assert sandbox.state.dials == 3


async def test_a_duplicate_ref_never_dials_twice(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    twice = [*campaign(3), campaign(1)[0]]
    outcomes: list[CallOutcome] = []
    async with DialJournal(tmp_path / "j") as journal:
        try:
            async for outcome in client.send_many(twice, journal=journal):
                outcomes.append(outcome)
        except RequestValidationError as exc:  # met while the first row was still pending
            assert exc.rule == "appears twice in the input"  # noqa: PT017
            assert len(outcomes) == 3
        else:  # met after the first row had finished: replayed from the journal
            assert [o.replayed for o in outcomes].count(True) == 1
    assert set(sandbox.state.dials_by_callee.values()) == {1}


async def test_a_slow_input_is_dialed_as_it_arrives(client: AsyncClient, tmp_path: Path) -> None:
    arrived = anyio.Event()

    async def queue() -> AsyncIterator[Call]:
        yield campaign(1)[0]
        await arrived.wait()  # the next row only comes once the first has an outcome
        yield campaign(2)[1]

    async with DialJournal(tmp_path / "j") as journal:
        with anyio.fail_after(10):
            async for outcome in client.send_many(queue(), journal=journal):
                assert outcome.ok
                arrived.set()


async def test_crash_mid_batch_then_resume_dials_nobody_twice(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    sandbox.faults = mixed_faults(seed=3)
    sandbox.faults.latency = 0.01
    path = tmp_path / "campaign.sqlite3"
    calls = campaign(120)
    first: list[CallOutcome] = []
    async with socket_client(sandbox_url) as client:
        journal = DialJournal(path)
        # The "crash": the run is abandoned mid-batch, requests in flight cut off.
        async for outcome in client.send_many(calls, journal=journal, settle=0.3, concurrency=20):
            first.append(outcome)
            if len(first) == 40:
                break
        await journal.aclose()
        assert 0 < sandbox.state.dials < 120
        async with DialJournal(path) as journal:  # a fresh object, as a new process would
            second = [
                o
                async for o in client.send_many(calls, journal=journal, settle=0.3, concurrency=20)
            ]
            counts = await journal.counts()
    assert Counter(o.call.ref for o in second) == Counter(c.ref for c in calls)  # one per ref
    assert all(o.ok for o in second), [o.error for o in second if not o.ok][:3]
    assert set(sandbox.state.dials_by_callee.values()) == {1}
    assert len(sandbox.state.dials_by_callee) == 120
    server = server_voice_ids(sandbox)
    assert all(o.voice_id == server[o.call.callee] for o in second)
    replayed = {o.call.ref for o in second if o.replayed}
    # Everything the first run reported placed is replayed (plus calls it finished, and
    # journaled, but never got to hand out before the "crash").
    assert {o.call.ref for o in first if o.ok} <= replayed
    assert len(replayed) < 120
    assert counts == {"placed": 120}


async def test_not_placed_is_reported_without_redial_then_replayed(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    sandbox.faults = Faults(error_rate=1.0, error_status=502, endpoints=SEND_SIP, limit=2)
    calls = campaign(5, accounts=5)
    async with socket_client(sandbox_url) as client, DialJournal(tmp_path / "j") as journal:
        run = client.send_many(calls, journal=journal, settle=0.2, redial_unplaced=False)
        left = [o async for o in run]
        assert sum(isinstance(o.error, NotPlacedError) for o in left) == 2
        assert sum(o.ok for o in left) == 3
        assert sandbox.state.dials == 3
        unplaced = next(o for o in left if not o.ok)
        assert "not placed" in str(unplaced.error)
        assert (await journal.entry(unplaced.call.ref or "")).state == "unplaced"  # type: ignore[union-attr]
        # The same input again: placed rows replayed, not-placed rows dialed now.
        again = [o async for o in client.send_many(calls, journal=journal, settle=0.2)]
        assert sorted(o.replayed for o in again) == [False, False, True, True, True]
        assert all(o.ok for o in again)
        assert sandbox.state.dials == 5
        assert {o.index for o in again} == set(range(5))
    assert set(sandbox.state.dials_by_callee.values()) == {1}


async def test_another_rows_call_to_the_same_person_is_not_taken_for_this_one(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    first = Call(callee="937055555555", account="acct05", ref="visit-1")
    second = Call(callee="937055555555", account="acct05", ref="visit-2")
    async with socket_client(sandbox_url) as client, DialJournal(tmp_path / "j") as journal:
        [placed] = [o async for o in client.send_many([first], journal=journal)]
        # The second row's request is dropped before the server runs it: the only record
        # in the window is the first row's, which must not count as the second's.
        sandbox.faults = Faults(drop_before_rate=1.0, endpoints=SEND_SIP, limit=1)
        run = client.send_many([first, second], journal=journal, settle=0.3)
        outcomes = {o.call.ref: o async for o in run}
    assert outcomes["visit-1"].replayed
    assert outcomes["visit-1"].voice_id == placed.voice_id
    assert outcomes["visit-2"].ok
    assert outcomes["visit-2"].voice_id != placed.voice_id
    assert sandbox.state.dials_by_callee["937055555555"] == 2


async def test_one_run_at_a_time_per_journal(client: AsyncClient, tmp_path: Path) -> None:
    async with DialJournal(tmp_path / "j") as journal:
        running = client.send_many(campaign(50), journal=journal, concurrency=2)
        await anext(running)
        with pytest.raises(JournalError, match="already used"):
            await anext(client.send_many(campaign(3), journal=journal))
        rest = [o async for o in running]
        assert len(rest) == 49
        # Once the run is over, the journal serves the next one (all replayed).
        again = [o async for o in client.send_many(campaign(50), journal=journal)]
        assert all(o.replayed for o in again)


async def test_async_input_and_client_wide_limits(sandbox: Sandbox, tmp_path: Path) -> None:
    closed = []

    async def rows() -> AsyncIterator[Call]:
        try:
            for call in campaign(30):
                yield call
        finally:
            closed.append(True)

    async with (
        make_client(sandbox, concurrency=2) as client,
        DialJournal(tmp_path / "j", fsync=False) as journal,
    ):
        outcomes = [o async for o in client.send_many(rows(), journal=journal, concurrency=10)]
        entries = await journal.lookup(c.ref or "" for c in campaign(30))
    assert closed == [True]
    assert sorted(o.index for o in outcomes) == list(range(30))  # type: ignore[type-var]
    assert all(o.ok and not o.replayed for o in outcomes)
    assert sandbox.state.peak_in_flight <= 2
    assert {e.state for e in entries.values()} == {"placed"}
    assert all(e.attempts == 1 and e.sent_at is not None for e in entries.values())
    assert {o.voice_id for o in outcomes} == {e.voice_id for e in entries.values()}


async def test_concurrent_writes_share_group_commits(tmp_path: Path) -> None:
    calls = campaign(100)
    async with DialJournal(tmp_path / "j") as journal:
        async with anyio.create_task_group() as tg:
            for i, call in enumerate(calls):
                tg.start_soon(journal.mark_sent, call, 1_700_000_000.0 + i)
        # Every write returned only once committed, and they rode on very few commits.
        assert journal.commits <= 3
        entries = await journal.lookup(c.ref or "" for c in calls)
        assert {e.state for e in entries.values()} == {"inflight"}
        await journal.mark_outcome("row-7", "placed", voice_id="v7")
        seventh = await journal.entry("row-7")
        assert seventh is not None
        assert (seventh.state, seventh.voice_id, seventh.attempts) == ("placed", "v7", 1)
        assert seventh.sent_at == datetime.fromtimestamp(1_700_000_007.0, UTC)
        await journal.mark_sent(calls[7], 1_700_000_100.0)  # a second attempt
        again = await journal.entry("row-7")
        assert again is not None
        assert (again.state, again.voice_id, again.attempts) == ("inflight", None, 2)
    with pytest.raises(JournalError, match="closed"):
        await journal.mark_sent(calls[0], 0.0)


def test_a_journal_in_a_missing_folder_is_a_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open"):
        DialJournal(tmp_path / "missing" / "campaign.sqlite3")


async def test_reconcile_pages_through_a_busy_account(
    client: AsyncClient, sandbox: Sandbox
) -> None:
    placed = [await client.send_sip(f"93706{i:07d}", account="busy") for i in range(230)]
    target = placed[5].call  # newest first: the oldest rows sit on the last of three pages
    sent = datetime.fromtimestamp(client.now(), UTC)
    unknown = OutcomeUnknownError("lost", endpoint="voice/sendSip", request=target, sent_at=sent)
    result = await client.reconcile(unknown, settle=0)
    assert result.voice_id == placed[5].voice_id
    assert sandbox.state.requests["voice/recordSipQuery"] == 3


async def test_reconcile_waits_until_sent_at_plus_settle_then_asks_the_closed_window() -> None:
    from laaffic_async._dialing.reconcile import reconcile_call
    from laaffic_async.models import RecordPage

    clock = [1_800_000_000.0]
    asked: list[tuple[float, float]] = []
    slept: list[float] = []

    async def fetch(
        start: datetime, end: datetime, *, current: int, size: int, phone_name: str | None
    ) -> RecordPage:
        assert phone_name == "acct09"
        asked.append((start.timestamp(), end.timestamp()))
        return RecordPage(total=0, size=size, current=current, pages=0, records=[])

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    call = Call(callee="937099999999", account="acct09")
    sent = datetime.fromtimestamp(clock[0] - 30, UTC)  # sent 30 s ago, settle 120 s
    result = await reconcile_call(
        call, sent, settle=120.0, fetch=fetch, now=lambda: clock[0], sleep=sleep
    )
    assert not result.placed
    assert slept == [90.0]
    sent_s = sent.timestamp()
    # First up to now (never the future), then the whole window once it has closed.
    assert asked == [(sent_s - 60, sent_s + 31), (sent_s - 60, sent_s + 120)]


async def test_failed_calls_are_final_until_retry_failed(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    from decimal import Decimal

    sandbox.state.balance = Decimal("0.024")  # two calls' worth: the third gets -10
    calls = campaign(3, accounts=3)
    async with DialJournal(tmp_path / "j") as journal:
        first = [o async for o in client.send_many(calls, journal=journal, concurrency=1)]
        assert sorted(o.ok for o in first) == [False, True, True]
        again = [o async for o in client.send_many(calls, journal=journal)]
        assert all(o.replayed for o in again)
        refused = next(o for o in again if not o.ok)
        assert isinstance(refused.error, NotPlacedError)
        assert "InsufficientBalanceError" in str(refused.error)
        assert sandbox.state.dials == 2
        sandbox.state.balance = Decimal("1")  # topped up
        assert await journal.retry_failed() == 1
        third = [o async for o in client.send_many(calls, journal=journal)]
        assert sorted(o.replayed for o in third) == [False, True, True]
        assert all(o.ok for o in third)
    assert set(sandbox.state.dials_by_callee.values()) == {1}
    assert sandbox.state.dials == 3


async def test_a_journal_that_fails_stops_the_run_with_journal_error(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = DialJournal(tmp_path / "j")
    seen = 0
    with pytest.raises(JournalError, match="closed"):  # noqa: PT012
        async for _ in client.send_many(campaign(60), journal=journal, concurrency=2):
            seen += 1
            if seen == 1:
                journal.close()  # the disk goes away, as far as the run can tell
    # No call was sent without its mark: the server saw at most the ones in flight.
    assert sandbox.state.dials <= seen + 2
