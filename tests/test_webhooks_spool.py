"""The spool: acknowledged events survive a stop or a kill, and redeliveries are remembered."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from laaffic_async import VoiceReport
from laaffic_async._core.pushes import parse_push
from laaffic_async._push.memory import MemoryStore
from laaffic_async._push.spool import PRUNE_INTERVAL, Op
from laaffic_async._push.sqlite import SqliteStore
from laaffic_async.webhooks import PushReceiver

from .webhook_helpers import Collector, eventually, post_json, voice_report

pytestmark = pytest.mark.anyio

FAST = {"retry_base_delay": 0.001, "retry_max_delay": 0.005}
HOUR = 3600.0


def key(n: int) -> str:
    return f"voiceId:{voice_report(n)['voiceId']}"


def pending_keys(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:  # closed: the receiver locks the file
        rows = db.execute("SELECT key FROM pushes WHERE done_at IS NULL").fetchall()
    return {row[0] for row in rows}


async def test_a_stopped_receiver_hands_unfinished_events_to_the_next_one(tmp_path: Path) -> None:
    spool = tmp_path / "pushes.sqlite3"
    # Even events are handled at once; odd ones block until the receiver is stopped.
    first = Collector(
        block=lambda event: isinstance(event, VoiceReport) and event.voice_id[-1] in "13579"
    )
    app = PushReceiver(first, spool=spool, shutdown_grace=0, **FAST)  # type: ignore[arg-type]
    async with app:
        for n in range(20):
            assert await post_json(app, voice_report(n)) == 200
        await first.wait_for(10)
        await first.wait_for(20, calls=True)
        await eventually(lambda: app.stats().backlog == 10)  # the evens are marked done
    assert sorted(first.keys) == sorted(key(n) for n in range(0, 20, 2))
    assert pending_keys(spool) == {key(n) for n in range(1, 20, 2)}

    second = Collector()
    again = PushReceiver(second, spool=spool, **FAST)  # type: ignore[arg-type]
    async with again:
        await second.wait_for(10)
        # The platform's redeliveries of any of the 20 are still recognised.
        for n in range(20):
            assert await post_json(again, voice_report(n)) == 200
    assert sorted(second.keys) == sorted(key(n) for n in range(1, 20, 2))
    assert again.stats().duplicates == 20
    assert pending_keys(spool) == set()


async def test_stopping_cuts_a_retry_wait_short_and_leaves_the_event_to_the_next_one(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "pushes.sqlite3"
    failing = Collector(fail_first=1)
    # The retry is an hour away and running handlers get a minute: stop must wait for neither.
    slow = {"retry_base_delay": HOUR, "retry_max_delay": HOUR, "shutdown_grace": 60.0}
    app = PushReceiver(failing, spool=spool, **slow)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        async with app:
            assert await post_json(app, voice_report(1)) == 200
            await eventually(lambda: app.stats().retried == 1)
    assert failing.calls[key(1)] == 1
    assert failing.keys == []
    assert pending_keys(spool) == {key(1)}

    second = Collector()
    async with PushReceiver(second, spool=spool, **FAST):  # type: ignore[arg-type]
        await second.wait_for(1)
    assert second.keys == [key(1)]


def test_a_killed_receiver_loses_no_acknowledged_push(tmp_path: Path) -> None:
    """SIGKILL a uvicorn process right after its 200s; a new receiver delivers them all.

    The new receiver takes them over once the dead one's 1-second leases expire.

    Synchronous on purpose: the subprocess does not care about the test's
    event loop, and the restart half runs on both backends in the test above.
    """
    spool = tmp_path / "pushes.sqlite3"
    script = (
        "import socket, sys, anyio, uvicorn\n"
        "from laaffic_async.webhooks import PushReceiver\n"
        "async def handler(event):\n"
        "    await anyio.sleep_forever()\n"
        "app = PushReceiver(handler, spool=sys.argv[1], lease_seconds=1)\n"
        "sock = socket.socket()\n"
        "sock.bind(('127.0.0.1', 0))\n"
        "print(sock.getsockname()[1], flush=True)\n"
        "uvicorn.Server(uvicorn.Config(app, log_level='critical')).run(sockets=[sock])\n"
    )
    bodies = [voice_report(n) for n in range(50)]
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(spool)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for attempt in range(200):
                try:
                    client.get("/")
                    break
                except httpx.ConnectError:
                    time.sleep(0.01 * attempt)
            for body in bodies:
                assert client.post("/", content=json.dumps(body)).status_code == 200
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    async def restart() -> list[str]:
        handler = Collector()
        async with PushReceiver(handler, spool=spool, **FAST):  # type: ignore[arg-type]
            await handler.wait_for(50)
        return handler.keys

    assert sorted(anyio.run(restart)) == sorted(key(n) for n in range(50))


@pytest.mark.parametrize("durable", [True, False], ids=["sqlite", "memory"])
async def test_redeliveries_are_recognised_for_the_window_then_forgotten(
    tmp_path: Path, durable: bool
) -> None:
    now = [1_700_000_000.0]
    handler = Collector()
    spool = tmp_path / "pushes.sqlite3" if durable else None
    app = PushReceiver(handler, spool=spool, clock=lambda: now[0], **FAST)  # type: ignore[arg-type]
    async with app:
        assert await post_json(app, voice_report(1)) == 200
        await handler.wait_for(1)
        for step in (0.5, 0.5, 0.5, 0.5):  # the platform retries every 30 min, 3 times
            now[0] += step * HOUR
            assert await post_json(app, voice_report(1)) == 200
        assert handler.calls[key(1)] == 1
        now[0] += 3 * HOUR + PRUNE_INTERVAL  # past the 3-hour default window: forgotten
        assert await post_json(app, voice_report(2)) == 200  # any write prunes
        assert await post_json(app, voice_report(1)) == 200
        await handler.wait_for(3)
    assert handler.calls[key(1)] == 2


async def test_the_window_outlives_a_restart(tmp_path: Path) -> None:
    spool = tmp_path / "pushes.sqlite3"
    handler = Collector()
    async with PushReceiver(handler, spool=spool, **FAST) as app:  # type: ignore[arg-type]
        assert await post_json(app, voice_report(1)) == 200
        await handler.wait_for(1)
    async with PushReceiver(handler, spool=spool, **FAST) as app:  # type: ignore[arg-type]
        assert await post_json(app, voice_report(1)) == 200
        assert await post_json(app, voice_report(2)) == 200
        await handler.wait_for(2)
    assert handler.calls == {key(1): 1, key(2): 1}


def test_pending_rows_are_never_pruned() -> None:
    for spool in (MemoryStore(window=HOUR), SqliteStore(":memory:", window=HOUR)):
        spool.open("w1", lease=1.0)
        old, done = parse_push(json.dumps([{"a": 1}]).encode()), parse_push(b'{"voiceId":"d"}')
        spool.apply([Op("admit", pushes=old), Op("admit", pushes=done)], 0.0)
        spool.apply([Op("done", keys=[done[0].key])], 1.0)
        spool.apply([Op("purge")], 10 * HOUR)  # the done row goes, the pending one stays
        claim = Op("claim", limit=10)
        spool.apply([claim], 10 * HOUR)  # its lease expired long ago
        assert [p.key for p in claim.result] == [old[0].key]
        again = Op("admit", pushes=done)
        spool.apply([again], 10 * HOUR + 1)
        assert again.result == done  # forgotten, so new again
        spool.close()


def test_a_failed_transaction_fails_every_op_and_keeps_nothing(tmp_path: Path) -> None:
    spool = SqliteStore(tmp_path / "p.sqlite3", window=HOUR)
    spool.open("w1", lease=1.0)
    pushes = parse_push(b'{"voiceId":"1"}')
    bad = Op("admit", pushes=[*pushes, object()])  # type: ignore[list-item]
    good = Op("admit", pushes=parse_push(b'{"voiceId":"2"}'))
    spool.apply([good, bad], 0.0)
    assert good.finished
    assert bad.finished
    assert good.error is not None
    assert good.result == []
    claim = Op("claim", limit=10)
    spool.apply([claim], 100.0)
    assert claim.result == []
    spool.close()
    closed = Op("claim", limit=10)
    spool.apply([closed], 200.0)
    assert isinstance(closed.error, RuntimeError)


async def test_a_spool_file_from_before_leases_is_upgraded(tmp_path: Path) -> None:
    spool = tmp_path / "pushes.sqlite3"
    with contextlib.closing(sqlite3.connect(spool)) as db:
        db.executescript(
            "CREATE TABLE pushes (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL"
            " UNIQUE, kind TEXT NOT NULL, data TEXT NOT NULL, received_at REAL NOT NULL,"
            " done_at REAL);"
        )
        [push] = parse_push(json.dumps(voice_report(1)).encode())
        db.execute(
            "INSERT INTO pushes (key, kind, data, received_at) VALUES (?, ?, ?, 0)",
            (push.key, push.kind, push.data),
        )
        db.commit()
    handler = Collector()
    async with PushReceiver(handler, spool=spool, **FAST) as app:  # type: ignore[arg-type]
        await handler.wait_for(1)  # its pending row is free to take at once
        assert await post_json(app, voice_report(1)) == 200  # and still a known key
    assert handler.keys == [key(1)]
    assert app.stats().taken_over == 1
    assert pending_keys(spool) == set()
