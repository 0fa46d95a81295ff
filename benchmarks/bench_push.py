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

* several processes (``fleet``): ``uvicorn --workers N`` serving a
  receiver whose handler does nothing, for 1 worker on a sqlite spool, 3
  workers on one sqlite spool (each with and without fsync), and 3 workers
  on a :class:`RedisSpool` (a local ``redis-server`` without persistence).  An aiohttp client posts
  pushes (each distinct one 3 times) at a fixed 500 per second, open loop,
  and records each acknowledgement's latency; then as fast as 32
  connections go.  Goal: p99 under 50 ms at 500 pushes/s.

Wall times on a shared machine are noisy; CPU seconds are printed too.
Run: ``python benchmarks/bench_push.py [asyncio|trio|fleet]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
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


FLEET_APP = """
import os
from laaffic_async.fleet import RedisSpool
from laaffic_async.webhooks import PushReceiver

async def on_push(event):
    pass

where = os.environ["BENCH_SPOOL"]
fsync = os.environ["BENCH_FSYNC"] == "1"
spool = RedisSpool(where) if where.startswith("redis://") else where
app = PushReceiver(on_push, spool=spool, fsync=fsync)
"""
RATE = 500.0
FLEET_PUSHES = 3000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(port: int, process: subprocess.Popen[bytes], probe: bytes) -> None:
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(probe)
                if conn.recv(16):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


@contextmanager
def process(command: list[str], port: int, probe: bytes, **env: str) -> Iterator[int]:
    """Run ``command`` in a process group of its own; yield the group's id."""
    child = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    try:
        wait_until_up(port, child, probe)
        yield child.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, 9)
        child.wait(30)


def group_cpu(group: int) -> float:
    """CPU seconds used so far by the live processes of a process group (Linux)."""
    total = 0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group:  # pgrp; then utime and stime in clock ticks
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def fleet_bodies() -> list[bytes]:
    distinct = bodies()[: FLEET_PUSHES // COPIES]
    # Each push and its redeliveries close together, as the platform's retries are.
    return [body for body in distinct for _ in range(COPIES)]


async def post_all(url: str, work: list[bytes], rate: float | None) -> tuple[float, list[float]]:
    import aiohttp  # the fast extra: the client must cost less than the servers

    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:

        async def one(body: bytes, limiter: anyio.CapacityLimiter | None) -> None:
            async with limiter if limiter is not None else contextlib.nullcontext():
                begun = time.perf_counter()
                async with http.post(url, data=body) as answer:
                    await answer.read()
                    assert answer.status == 200, answer.status
                latencies.append(time.perf_counter() - begun)

        limiter = None if rate is not None else anyio.CapacityLimiter(32)
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for n, body in enumerate(work):
                if rate is not None:
                    await anyio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                tg.start_soon(one, body, limiter)
        wall = time.perf_counter() - start
    return len(work) / wall, sorted(latencies)


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def fleet(folder: str) -> None:
    await anyio.Path(folder, "bench_fleet_app.py").write_text(FLEET_APP)
    redis_port = free_port()
    redis = shutil.which("redis-server")
    setups = [
        (f"{n} worker{'s' * (n > 1)}, sqlite{sync}", n, f"{n}.sqlite3", fsync)
        for n in (1, 3)
        for sync, fsync in ((", fsync", "1"), ("", "0"))
    ]
    if redis:
        setups.append(("3 workers, Redis", 3, f"redis://127.0.0.1:{redis_port}/0", "0"))
    else:
        print("redis-server not found: the Redis row is skipped")
    redis_command = [redis or "redis-server", "--port", str(redis_port), "--save", ""]
    with contextlib.ExitStack() as stack:
        if redis:
            stack.enter_context(process(redis_command, redis_port, b"PING\r\n"))
        for name, workers, spool, fsync in setups:
            for rate in (RATE, None):
                port = free_port()
                spool_at = spool if spool.startswith("redis") else os.path.join(folder, spool)
                command = [sys.executable, "-m", "uvicorn", "bench_fleet_app:app"]
                command += ["--port", str(port), "--workers", str(workers), "--log-level", "error"]
                path = os.pathsep.join([folder, *sys.path])
                env = {"BENCH_SPOOL": spool_at, "BENCH_FSYNC": fsync, "PYTHONPATH": path}
                with process(command, port, b"GET / HTTP/1.0\r\n\r\n", **env) as group:
                    await anyio.sleep(1.0)  # every worker's lifespan
                    url = f"http://127.0.0.1:{port}/"
                    cpu = group_cpu(group)
                    achieved, lat = await post_all(url, fleet_bodies(), rate)
                    await anyio.sleep(0.5)  # the last handlers and commits
                    cpu = (group_cpu(group) - cpu) / FLEET_PUSHES
                if spool.startswith("redis"):
                    with socket.create_connection(("127.0.0.1", redis_port)) as conn:
                        conn.sendall(b"FLUSHALL\r\n")
                        conn.recv(16)
                else:
                    for suffix in ("", "-wal", "-shm"):
                        with contextlib.suppress(FileNotFoundError):
                            os.remove(spool_at + suffix)
                offered = f"{rate:4.0f}/s offered" if rate else "32 connections"
                print(
                    f"fleet {name:25} {offered:15}: {achieved:5.0f} acknowledged pushes/s, "
                    f"ack p50 {quantile(lat, 0.5):5.1f} ms, p99 {quantile(lat, 0.99):6.1f} ms, "
                    f"receiver CPU {cpu * 1e6:4.0f} us per push"
                )


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        if len(sys.argv) > 1 and sys.argv[1] == "fleet":
            await fleet(folder)
            return
        await in_process(folder)
        await over_a_socket(folder)


if __name__ == "__main__":
    backend = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "fleet" else "asyncio"
    anyio.run(main, backend=backend)
