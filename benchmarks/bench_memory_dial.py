"""Memory of ``send_many`` over a 1,000,000-call generator: it must stay flat, under 100 MB.

What is measured
----------------
The process's resident set size (RSS, psutil) before the batch, then sampled every
``--calls / 20`` outcomes while a generator of ``--calls`` calls (default one million, each a
fresh :class:`~laaffic_async.Call`, across 10,000 accounts) streams through
``AsyncClient.send_many`` against the fast local server of ``_server.py`` (another process),
plus the peak RSS the kernel recorded (``VmHWM``, see ``_rss.py``). "Flat" means the RSS of the last
samples is within a few MB of the first ones: nothing grows with the number of calls.

Why it stays flat
-----------------
The input is read lazily, at most ``lookahead`` (4 x concurrency) calls ahead; per-account lanes
exist only for accounts with pending calls; outcomes leave through a bounded memory stream;
nothing keeps a reference to a finished call. The sandbox, which remembers every call, is not
used here: the local server keeps no state per call.

Run: ``python benchmarks/bench_memory_dial.py [--calls 1000000] [--concurrency 200]
[--transport default|pooled|aiohttp]``. A quick check: ``--calls 50000``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterator

import httpx
import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _rss import peak_rss_mb
from _server import run_server

from laaffic_async import AsyncClient, BatchProgress, Call

LIMIT_MB = 100.0


def _mb(value: float) -> float:
    return value / (1024 * 1024)


def calls(n: int) -> Iterator[Call]:
    """A generator of ``n`` distinct calls over 10,000 accounts (never a list)."""
    for i in range(n):
        yield Call(callee=f"93{i:010d}", account=f"acct{i % 10_000}", called_info=f"row-{i}")


def _transport(kind: str, concurrency: int) -> httpx.AsyncBaseTransport | None:
    if kind == "pooled":
        from laaffic_async._io.pool import PooledTransport

        return PooledTransport(max_connections=concurrency)
    if kind == "aiohttp":
        from laaffic_async._io.aiohttp import AiohttpTransport

        return AiohttpTransport(max_connections=concurrency)
    return None


async def measure(base_url: str, n: int, concurrency: int, kind: str) -> dict[str, object]:
    """Stream ``n`` calls through send_many; return RSS samples and totals."""
    process = psutil.Process()
    progress = BatchProgress()
    every = max(1, n // 20)
    samples: list[tuple[int, float]] = []
    client = AsyncClient(
        "bDqJFiq9",
        "benchmark-secret",
        app_id="4luaKsL2",
        base_url=base_url,
        max_connections=max(100, concurrency),
        transport=_transport(kind, concurrency),
    )
    before = _mb(process.memory_info().rss)
    start = time.perf_counter()
    async with client:
        async for outcome in client.send_many(calls(n), concurrency=concurrency, progress=progress):
            if (outcome.index or 0) % every == 0:
                samples.append((progress.done, _mb(process.memory_info().rss)))
    elapsed = time.perf_counter() - start
    samples.append((progress.done, _mb(process.memory_info().rss)))
    return {
        "before": before,
        "samples": samples,
        "peak": peak_rss_mb(),
        "elapsed": elapsed,
        "progress": progress,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--transport", choices=("default", "pooled", "aiohttp"), default="default")
    args = parser.parse_args()
    with run_server() as base_url:
        result = asyncio.run(measure(base_url, args.calls, args.concurrency, args.transport))
    progress = result["progress"]
    assert isinstance(progress, BatchProgress)
    samples = result["samples"]
    assert isinstance(samples, list)
    print(
        f"send_many, {args.calls:,} calls, concurrency {args.concurrency}, "
        f"transport {args.transport}: {result['elapsed']:.0f} s, "
        f"{progress.placed:,} placed, {progress.failed:,} failed, {progress.unknown:,} unknown"
    )
    print(f"RSS before the batch: {result['before']:.1f} MB")
    for done, rss in samples:
        print(f"  after {done:>9,} outcomes: RSS {rss:6.1f} MB")
    # Growth is measured from the first sample past 10%: pools and caches fill up before that.
    settled = next(rss for done, rss in samples if done >= args.calls // 10)
    growth = samples[-1][1] - settled
    peak = max(float(result["peak"]), *(rss for _, rss in samples))  # type: ignore[arg-type]
    verdict = "OK" if peak < LIMIT_MB and growth < 10 else "OVER"
    print(
        f"peak RSS {peak:.1f} MB (limit {LIMIT_MB:.0f}), growth after the first 10%: "
        f"{growth:+.1f} MB -> {verdict}"
    )
    if verdict != "OK":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
