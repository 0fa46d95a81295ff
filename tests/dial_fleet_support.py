"""What the fleet-dialing process tests watch at the server, and how they start workers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from laaffic_async.testing import Sandbox

from .redis_support import _free_port, redis_binary

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "fleet_worker.py"


@attrs.define
class Seen:
    """One sendSip request as the server saw it (monotonic seconds of this process)."""

    start: float
    callee: str
    account: str
    end: float | None = None


class Recorder:
    """ASGI wrapper around the sandbox that logs every sendSip's arrival and end."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("sendSip"):
            await self.sandbox(scope, receive, send)
            return
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        body = json.loads(b"".join(m.get("body", b"") for m in messages))
        entry = Seen(time.monotonic(), body["callee"], body["account"])
        with self._lock:
            self.seen.append(entry)
        replay = iter(messages)

        async def replayed() -> Any:
            return next(replay, {"type": "http.disconnect"})

        try:
            await self.sandbox(scope, replayed, send)
        finally:
            entry.end = time.monotonic()

    def snapshot(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def in_flight_at(self, moment: float) -> list[Seen]:
        return [s for s in self.snapshot() if s.start <= moment and (s.end or 1e18) > moment]


def peak_in_flight(seen: list[Seen], after: float = 0.0) -> int:
    """The most requests at the server at once, counting only instants after ``after``."""
    events = sorted(
        [(s.start, 1) for s in seen] + [(s.end if s.end else 1e18, -1) for s in seen],
        key=lambda e: (e[0], e[1]),
    )
    now = peak = 0
    for moment, step in events:
        now += step
        if moment >= after:
            peak = max(peak, now)
    return peak


def peak_per_account(seen: list[Seen]) -> int:
    by_account: dict[str, list[Seen]] = {}
    for s in seen:
        by_account.setdefault(s.account, []).append(s)
    return max((peak_in_flight(group) for group in by_account.values()), default=0)


def max_in_window(starts: list[float], window: float = 1.0) -> int:
    """The most starts inside any sliding window of ``window`` seconds."""
    starts = sorted(starts)
    best = lo = 0
    for hi, moment in enumerate(starts):
        while moment - starts[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def start_worker(
    base_url: str, redis_url: str, prefix: str, count: int, backend: str, **options: object
) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        str(WORKER),
        "--base-url",
        base_url,
        "--redis",
        redis_url,
        "--prefix",
        prefix,
        "--count",
        str(count),
        "--backend",
        backend,
    ]
    for name, value in options.items():
        args += [f"--{name}", str(value)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )


def outcomes_of(worker: subprocess.Popen[str], timeout: float = 60) -> list[dict[str, Any]]:
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@contextlib.contextmanager
def redis_cluster(directory: Path) -> Iterator[str]:
    """A one-node Redis Cluster (every slot on it) on a free port; yields its URL."""
    port = _cluster_port()
    process = subprocess.Popen(
        [
            redis_binary(),
            *("--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"),
            *("--dir", str(directory), "--cluster-enabled", "yes"),
            *("--cluster-config-file", str(directory / "nodes.conf")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # "busy" too: an earlier attempt may have assigned the slots before it timed out.
        _command(port, b"CLUSTER ADDSLOTSRANGE 0 16383", expect=(b"+OK", b"busy"), wait=10)
        _command(port, b"CLUSTER INFO", expect=(b"cluster_state:ok",), wait=20)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(5)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = _free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _command(port: int, command: bytes, *, expect: tuple[bytes, ...], wait: float) -> None:
    """Send an inline command until its answer contains ``expect`` (or fail after ``wait``)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(command + b"\r\n")
                answer = conn.recv(4096)
                if any(part in answer for part in expect):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis cluster node on {port}: no {expect!r} after {command!r}")
