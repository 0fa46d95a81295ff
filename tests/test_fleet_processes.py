"""Fleet dialing with real worker processes, one Redis and the sandbox over a socket.

Each worker is ``tests/fleet_worker.py`` in its own interpreter; every fleet mixes
asyncio and trio workers (one Redis protocol, so they must agree).  The server side
records every sendSip's arrival and end: what the fleet's guarantees are checked against.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from laaffic_async.testing import Sandbox, serve_in_thread

from .dial_fleet_support import (
    Recorder,
    max_in_window,
    outcomes_of,
    peak_in_flight,
    peak_per_account,
    start_worker,
)
from .redis_support import RedisServer

#: The backend of worker n: both in every fleet.
BACKENDS = ("asyncio", "trio", "asyncio")


@pytest.fixture
def served() -> Iterator[tuple[Recorder, str]]:
    sandbox = Sandbox()
    recorder = Recorder(sandbox)
    with serve_in_thread(recorder) as url:
        yield recorder, url


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_three_workers_share_rate_concurrency_and_accounts(
    redis_url: str, served: tuple[Recorder, str]
) -> None:
    recorder, url = served
    recorder.sandbox.faults.latency = 0.05
    workers = [
        start_worker(url, redis_url, f"93210{w}", 20, BACKENDS[w], concurrency=12, cps=30)
        for w in range(3)
    ]
    outcomes = [o for worker in workers for o in outcomes_of(worker)]
    seen = recorder.snapshot()
    assert len(outcomes) == 60
    assert all(o["ok"] for o in outcomes)
    # Every call placed once, never two requests on one account, never more than 12.
    assert sorted(s.callee for s in seen) == sorted(o["callee"] for o in outcomes)
    assert set(recorder.sandbox.state.dials_by_callee.values()) == {1}
    assert peak_per_account(seen) == 1
    assert recorder.sandbox.state.busy_answers == 0
    assert peak_in_flight(seen) <= 12
    # About 30/s fleet-wide. Departures are booked exactly 1/30 s apart; what the server
    # sees adds each worker's delays. Cold, a worker's first requests also open their
    # connections and may arrive in a clump (a busy 2-core machine: up to ~200 ms late),
    # so the strict window check is on the steady state after the first six starts.
    starts = sorted(s.start for s in seen)
    assert max_in_window(starts[6:]) <= 34
    assert max_in_window(starts) <= 40
    average = (len(starts) - 1) / (starts[-1] - starts[0])
    assert 12 < average <= 32


def test_a_killed_worker_gives_its_accounts_back_after_the_lease(
    redis_url: str, served: tuple[Recorder, str]
) -> None:
    recorder, url = served
    recorder.sandbox.faults.latency = 0.3
    lease = 1.0
    options = {"concurrency": 12, "cps": 200, "lease": lease}
    victim = start_worker(url, redis_url, "932109", 40, "trio", **options)
    survivors = [
        # Enough work that the survivors are still busy well after the victim's leases lapse.
        start_worker(url, redis_url, f"93210{w}", 100, BACKENDS[w], **options)
        for w in (1, 2)
    ]

    def victim_in_flight() -> list[str]:
        now = time.monotonic()
        return [s.account for s in recorder.in_flight_at(now) if s.callee.startswith("932109")]

    wait_for(lambda: len(victim_in_flight()) >= 2)
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    victim.wait(10)
    outcomes = [o for worker in survivors for o in outcomes_of(worker)]
    seen = recorder.snapshot()
    assert len(outcomes) == 200
    assert all(o["ok"] for o in outcomes)
    assert peak_per_account(seen) == 1
    assert peak_in_flight(seen) <= 12
    # The dead worker's accounts (answered only after it died, so never released) are
    # dialed again by the others once its leases lapse.
    held = {
        s.account
        for s in seen
        if s.callee.startswith("932109") and s.start <= killed and (s.end or 0) > killed + 0.05
    }
    assert held
    for account in held:
        later = [s for s in seen if s.account == account and s.start > killed]
        assert later, f"{account} was never dialed again"
        assert min(s.start for s in later) >= killed + lease / 3
    # The fleet's concurrency recovers fully once the leases are gone.
    assert peak_in_flight(seen, after=killed + lease + 0.2) == 12


def test_redis_stopped_mid_batch(redis_server: RedisServer, served: tuple[Recorder, str]) -> None:
    recorder, url = served
    recorder.sandbox.faults.latency = 0.05
    options = {"concurrency": 12, "cps": 30}
    workers = [
        start_worker(url, redis_server.url, f"93210{w}", 20, BACKENDS[w], **options)
        for w in range(3)
    ]
    wait_for(lambda: len(recorder.snapshot()) >= 15)
    redis_server.stop()
    stopped = time.monotonic()
    outcomes = [o for worker in workers for o in outcomes_of(worker)]
    seen = recorder.snapshot()
    placed = sorted(o["callee"] for o in outcomes if o["ok"])
    failed = [o for o in outcomes if not o["ok"]]
    assert len(outcomes) == 60
    assert failed
    assert {o["error"] for o in failed} == {"CoordinationError"}
    # Nothing reached the server uncoordinated: only calls admitted before the outage,
    # at most what the fleet had already booked (its 12 slots).
    assert sorted(s.callee for s in seen) == placed
    assert len([s for s in seen if s.start > stopped]) <= 12
    # A restarted (empty) Redis lets a new batch run.
    redis_server.start()
    again = outcomes_of(start_worker(url, redis_server.url, "932108", 6, "trio", **options))
    assert len(again) == 6
    assert all(o["ok"] for o in again)
