"""Serving tests/push_fleet_app.py with real uvicorn processes, and pushing to them."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx

from laaffic_async.testing import Pusher, PushJob
from laaffic_async.testing._push_bodies import agent_ringing, call_center_record

from .webhook_helpers import voice_report

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(spool: str, log: Path, env: dict[str, str], *, workers: int = 3) -> Iterator[str]:
    """Run ``uvicorn tests.push_fleet_app:app --workers N``; yield its URL once it answers."""
    port = free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PUSH_SPOOL": spool,
        "PUSH_LOG": str(log),
        **env,
    }
    command = [sys.executable, "-m", "uvicorn", "tests.push_fleet_app:app", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env=environ, cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)  # 405 once a worker answers
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.1)
        time.sleep(0.5 if workers > 1 else 0)  # the other workers' lifespans
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def push_jobs(count: int, copies: int, tag: str = "") -> list[PushJob]:
    """``count`` pushes, the three documented kinds in turn, each ``copies`` times.

    The copies of a few pushes are shuffled together, so they arrive concurrently and
    interleaved with other pushes.  A ringing push names one agent (one event each).
    ``tag`` starts every id (the app's handler is slow for keys containing "slow").
    """
    bodies: list[tuple[Any, Any]] = []
    for n in range(count):
        if n % 3 == 0:
            report = voice_report(n)
            bodies.append(("voice_report", {**report, "voiceId": tag + report["voiceId"]}))
        elif n % 3 == 1:
            record = call_center_record(call_session_id=f"{tag}CS-{n}")
            bodies.append(("call_center_record", record))
        else:
            bodies.append(("agent_ringing", agent_ringing(f"{tag}call-{n}", [f"80{n:05d}"])))
    rng = random.Random(14)
    jobs: list[PushJob] = []
    for start in range(0, count, 8):
        block = [
            PushJob(kind, json.dumps(body).encode())
            for kind, body in bodies[start : start + 8]
            for _ in range(copies)
        ]
        rng.shuffle(block)
        jobs += block
    return jobs


def deliver(urls_and_jobs: list[tuple[str, list[PushJob]]], concurrency: int = 16) -> list[Pusher]:
    """Post every job (retrying non-200 like the platform); return the pushers."""

    async def run() -> list[Pusher]:
        # A new connection per push: the kernel spreads accepts over the workers, where a
        # few keep-alive connections may all land on one.
        fresh = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
        pushers = [
            Pusher(
                url,
                retry_delay=0.2,
                concurrency=concurrency,
                transport=httpx.AsyncHTTPTransport(limits=fresh),
            )
            for url, _ in urls_and_jobs
        ]
        async with contextlib.AsyncExitStack() as stack:
            for pusher, (_url, jobs) in zip(pushers, urls_and_jobs, strict=True):
                await stack.enter_async_context(pusher)
                pusher.push_jobs(jobs)
            with anyio.fail_after(120):
                for pusher in pushers:
                    await pusher.join()
        return pushers

    return anyio.run(run)


@attrs.define
class Log:
    """What the handlers of every worker wrote: ``start``/``end`` lines per key and pid."""

    starts: Counter[str] = attrs.field(factory=Counter)
    ends: Counter[str] = attrs.field(factory=Counter)
    by_pid: dict[int, dict[str, set[str]]] = attrs.field(
        factory=lambda: defaultdict(lambda: {"start": set(), "end": set()})
    )

    @classmethod
    def read(cls, path: Path) -> Log:
        log = cls()
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            what, pid, key = line.split(" ", 2)
            (log.starts if what == "start" else log.ends)[key] += 1
            log.by_pid[int(pid)][what].add(key)
        return log

    def running(self, pid: int) -> set[str]:
        return self.by_pid[pid]["start"] - self.by_pid[pid]["end"]


def wait_for(predicate: Any, limit: float = 60) -> None:
    """Poll ``predicate()`` until true (``limit`` guards against a hang, it times nothing)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
