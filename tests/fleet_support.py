"""What the fleet process tests watch at the server, and how they start workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from laaffic_async.testing import Sandbox

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
