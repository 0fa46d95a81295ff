"""What a push costs the receiver, and how many it takes per second.

Two measurements, each 1,000 distinct voice reports delivered 3 times:

* in-process: the pushes go straight into ``PushReceiver.__call__`` (no
  HTTP), ``concurrency`` at a time, for each spool (sqlite with fsync,
  sqlite without, memory).  This is the receiver's own cost: parsing,
  dedupe, the spool commit, the handler hand-off.
* over a socket: the receiver served by uvicorn in a thread and the
  sandbox's :class:`~laaffic_async.testing.Pusher` posting with httpx from
  the main thread (both HTTP stacks in one process, so this is the floor of
  what the whole path costs here, not the receiver's).

Wall times on a shared machine are noisy; CPU seconds are printed too.
Run: ``python benchmarks/bench_push.py [asyncio|trio]``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import MutableMapping
from typing import Any

import anyio

from laaffic_async.events import PushEvent
from laaffic_async.testing import Pusher, PushJob, serve_in_thread
from laaffic_async.webhooks import PushReceiver

PUSHES = 1000
COPIES = 3


def bodies() -> list[bytes]:
    return [
        json.dumps(
            {
                "voiceId": f"22030311133{n:08d}",
                "type": 3,
                "callee": "932111111111",
                "submitTime": 1642488160000 + n,
                "callTime": 1642488161000 + n,
                "hangupTime": 1642488171000 + n,
                "callDuration": 5,
                "rate": "0.012",
                "cost": "0.004",
                "currency": "USD",
            }
        ).encode()
        for n in range(PUSHES)
    ]


async def post(app: PushReceiver, body: bytes) -> None:
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/", "headers": []}
    await app(scope, receive, send)


async def limited_post(app: PushReceiver, limiter: anyio.CapacityLimiter, body: bytes) -> None:
    async with limiter:
        await post(app, body)


def spools(folder: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("sqlite, fsync", {"spool": os.path.join(folder, "a.sqlite3")}),
        ("sqlite, no fsync", {"spool": os.path.join(folder, "b.sqlite3"), "fsync": False}),
        ("memory", {"spool": None}),
    ]


async def in_process(folder: str) -> None:
    for name, options in spools(folder):
        for concurrency in (1, 16, 64):
            delivered = 0

            async def handler(event: PushEvent) -> None:
                nonlocal delivered
                delivered += 1

            receiver = PushReceiver(handler, **options)
            work = bodies() * COPIES
            async with receiver:
                wall, cpu = time.perf_counter(), time.process_time()
                limiter = anyio.CapacityLimiter(concurrency)

                async with anyio.create_task_group() as tg:
                    for body in work:
                        tg.start_soon(limited_post, receiver, limiter, body)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert delivered == PUSHES, delivered
            print(
                f"in-process  {name:17} concurrency {concurrency:3}: "
                f"{len(work) / wall:6.0f} pushes/s, {wall / len(work) * 1e6:5.0f} us wall, "
                f"{cpu / len(work) * 1e6:5.0f} us CPU per push"
            )
            if options["spool"]:
                os.remove(options["spool"])


async def over_a_socket(folder: str) -> None:
    for name, options in spools(folder):

        async def handler(event: PushEvent) -> None:
            pass

        receiver = PushReceiver(handler, **options)
        with serve_in_thread(receiver, prefix="/") as url:
            async with Pusher(url, concurrency=8) as pusher:
                wall, cpu = time.perf_counter(), time.process_time()
                for body in bodies():
                    pusher.push_jobs([PushJob("raw", body)] * COPIES)
                await pusher.join()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert receiver.stats().received == PUSHES
        print(
            f"over socket {name:17} (pusher concurrency 8): "
            f"{PUSHES * COPIES / wall:6.0f} pushes/s, "
            f"{cpu / (PUSHES * COPIES) * 1e6:5.0f} us CPU per push (both sides)"
        )


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        await in_process(folder)
        await over_a_socket(folder)


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
