"""PushReceiver as real processes: uvicorn --workers 3 on one spool, and a second host on Redis.

Synchronous on purpose: the receivers are subprocesses; the in-process
spool logic runs on both backends in test_push_leases.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from .fleet_support import Log, deliver, push_jobs, serve, wait_for
from .redis_support import RedisServer

PUSHES = 600


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_each_push_is_handled_once_across_workers_and_hosts_even_when_one_is_killed(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    log_path = tmp_path / "handled.log"
    gate = tmp_path / "gate"
    env = {"PUSH_LEASE": "1", "PUSH_HANDLER_SECONDS": "1", "PUSH_GATE": str(gate)}
    redis: RedisServer | None = None
    spool = str(tmp_path / "pushes.sqlite3")
    if kind == "redis":
        redis = request.getfixturevalue("redis_server")
        spool = redis.url
    with contextlib.ExitStack() as hosts:
        url = hosts.enter_context(serve(spool, log_path, env))
        # 600 pushes of the three kinds, each delivered 3 times concurrently and
        # interleaved: on sqlite all to one host (3 workers); on Redis one copy of each
        # goes to a second host, a separate uvicorn process.
        if redis is None:
            [pusher] = deliver([(url, push_jobs(PUSHES, copies=3))], concurrency=24)
            assert pusher.statuses == {200: 3 * PUSHES}
        else:
            other = hosts.enter_context(serve(spool, log_path, env, workers=1))
            both = [(url, push_jobs(PUSHES, copies=2)), (other, push_jobs(PUSHES, copies=1))]
            pushers = deliver(both, concurrency=12)
            assert [p.statuses for p in pushers] == [{200: 2 * PUSHES}, {200: PUSHES}]
        wait_for(lambda: sum(Log.read(log_path).ends.values()) >= PUSHES)
        log = Log.read(log_path)
        assert len(log.ends) == PUSHES
        assert sorted(log.starts.values()) == [1] * PUSHES  # exactly once across processes
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

        if redis is not None:
            # Redis unreachable: 503, never 200 for what cannot be kept.  (To the first
            # host: the killed worker may have been the second host's only process.)
            redis.stop()
            late = {"voiceId": "after-the-outage"}
            assert httpx.post(url, json=late).status_code == 503
            redis.start()
            assert httpx.post(url, json=late).status_code == 200
            wait_for(lambda: Log.read(log_path).ends["voiceId:after-the-outage"] == 1)
    log = Log.read(log_path)
    twice = {key for key, n in log.starts.items() if n > 1}
    # Every acknowledged event was handled; only those the kill interrupted (or that
    # returned in its last moment) ran again, and each of those ran to the end elsewhere.
    assert len(log.ends) == PUSHES + 30 + (redis is not None)
    assert twice <= log.by_pid[victim]["start"]
    assert interrupted <= twice
    assert all(log.ends[key] == 1 for key in interrupted)
