"""PushReceiver as real processes: uvicorn --workers 3 on one spool, and two hosts on Redis.

Synchronous on purpose: the receivers are subprocesses; the in-process
spool logic runs on both backends in test_push_leases.py.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from .fleet_support import Log, deliver, push_jobs, serve, wait_for
from .redis_support import RedisServer

PUSHES = 600


def spool_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return str(tmp_path / "pushes.sqlite3")
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_three_workers_handle_each_push_once_even_when_one_is_killed(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    log_path = tmp_path / "handled.log"
    spool = spool_for(kind, tmp_path, request)
    gate = tmp_path / "gate"
    with serve(
        spool, log_path, PUSH_LEASE="1", PUSH_HANDLER_SECONDS="1", PUSH_GATE=str(gate)
    ) as url:
        # 600 pushes of the three kinds, each delivered 3 times concurrently.
        [pusher] = deliver([(url, push_jobs(PUSHES, copies=3))], concurrency=24)
        assert pusher.statuses == {200: 3 * PUSHES}
        wait_for(lambda: sum(Log.read(log_path).ends.values()) >= PUSHES)
        log = Log.read(log_path)
        assert len(log.ends) == PUSHES
        assert sorted(log.starts.values()) == [1] * PUSHES  # exactly once across workers
        assert len(log.by_pid) >= 2  # the work really was shared by several processes

        # 30 more whose handlers wait for the gate, then take a second: kill the worker
        # running the most of them, then open the gate.
        [pusher] = deliver([(url, push_jobs(30, copies=3, tag="slow-"))])
        assert pusher.statuses == {200: 90}  # all 30 acknowledged
        wait_for(lambda: any(Log.read(log_path).running(pid) for pid in log.by_pid))
        log = Log.read(log_path)
        victim = max(log.by_pid, key=lambda pid: len(log.running(pid)))
        os.kill(victim, signal.SIGKILL)
        gate.touch()
        interrupted = Log.read(log_path).running(victim)
        assert interrupted
        wait_for(lambda: len(Log.read(log_path).ends) == PUSHES + 30)
    log = Log.read(log_path)
    twice = {key for key, n in log.starts.items() if n > 1}
    # Every acknowledged event was handled; only those the kill interrupted (or that
    # returned in its last moment) ran again, and each of those ran to the end elsewhere.
    assert len(log.ends) == PUSHES + 30
    assert twice <= log.by_pid[victim]["start"]
    assert interrupted <= twice
    assert all(log.ends[key] == 1 for key in interrupted)


def test_two_hosts_on_redis_handle_each_push_once_and_answer_503_without_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    log_path = tmp_path / "handled.log"
    # Two copies of every push go to one host and the third to the other, concurrently.
    first, third = push_jobs(PUSHES, copies=2), push_jobs(PUSHES, copies=1)
    with (
        serve(redis_server.url, log_path, workers=1, PUSH_LEASE="2") as host_a,
        serve(redis_server.url, log_path, workers=1, PUSH_LEASE="2") as host_b,
    ):
        pushers = deliver([(host_a, first), (host_b, third)])
        assert [p.statuses for p in pushers] == [{200: 2 * PUSHES}, {200: PUSHES}]
        wait_for(lambda: sum(Log.read(log_path).ends.values()) >= PUSHES)
        log = Log.read(log_path)
        assert sorted(log.starts.values()) == [1] * PUSHES
        assert len(log.by_pid) == 2
        redis_server.stop()
        for url in (host_a, host_b):
            assert httpx.post(url, json={"voiceId": "after-the-outage"}).status_code == 503
        redis_server.start()
        assert httpx.post(host_a, json={"voiceId": "after-the-outage"}).status_code == 200
        assert httpx.post(host_b, json={"voiceId": "after-the-outage"}).status_code == 200
        wait_for(lambda: Log.read(log_path).ends["voiceId:after-the-outage"] == 1)
    assert Log.read(log_path).starts["voiceId:after-the-outage"] == 1
