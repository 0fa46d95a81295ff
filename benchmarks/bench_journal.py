"""What crash-safe dialing costs: ``send_many(journal=...)`` vs plain ``send_many``.

What is measured
----------------
1. Throughput: ``--calls`` distinct calls (default 30,000) through plain ``send_many`` and
   through ``send_many(journal=DialJournal(...))`` (``fsync=True``, the default, and
   ``fsync=False``), alternating, ``--reps`` times each, against the fast local server of
   ``_server.py`` (another process). Reported: median calls/s, client CPU per call (process time,
   including the journal's writer threads) and the journal's group commits per call. Goal: the
   journal costs at most 25% of plain throughput.
2. Memory: a ``--memory-calls`` generator (default 300,000, never a list) through a journaled
   run, RSS sampled every 5% of the outcomes, plus the kernel's peak (``VmHWM``). "Flat" means
   the last samples are within a few MB of the one at 10%.

Why the journal is cheap
------------------------
Every call must wait for its in-flight mark to be committed before its request leaves, and its
outcome is committed before it is handed out; but a commit covers every write queued while the
previous one ran (group commit), in a worker thread. With 200 calls in flight a commit carries
dozens of writes, so the per-call cost is one sqlite row write plus a share of a commit.

Run: ``python benchmarks/bench_journal.py [--calls 30000] [--reps 3] [--memory-calls 300000]
[--concurrency 200] [--dir DIR]`` (the journal files go to a temporary directory under ``DIR``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _rss import peak_rss_mb
from _server import run_server

from laaffic_async import AsyncClient, Call
from laaffic_async.journal import DialJournal

GOAL = 0.25


def calls(n: int, tag: str) -> Iterator[Call]:
    """A generator of ``n`` distinct calls over 10,000 accounts, each with a ref."""
    for i in range(n):
        yield Call(callee=f"93{i:010d}", account=f"acct{i % 10_000}", ref=f"{tag}-{i}")


async def run_once(
    base_url: str,
    n: int,
    concurrency: int,
    journal_path: Path | None,
    *,
    fsync: bool = True,
    samples: list[tuple[int, float]] | None = None,
) -> dict[str, float]:
    process = psutil.Process()
    every = max(1, n // 20)
    client = AsyncClient(
        "bDqJFiq9",
        "benchmark-secret",
        app_id="4luaKsL2",
        base_url=base_url,
        max_connections=max(100, concurrency),
    )
    journal = None if journal_path is None else DialJournal(journal_path, fsync=fsync)
    placed = done = 0
    cpu0, start = time.process_time(), time.perf_counter()
    async with client:
        outcomes = client.send_many(
            calls(n, journal_path.stem if journal_path else "plain"),
            concurrency=concurrency,
            journal=journal,
        )
        async for outcome in outcomes:
            done += 1
            placed += outcome.ok
            if samples is not None and done % every == 0:
                samples.append((done, process.memory_info().rss / 2**20))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    commits = 0
    if journal is not None:
        commits = journal.commits
        await journal.aclose()
    if placed != n:
        raise SystemExit(f"only {placed} of {n} calls placed")
    return {"rate": n / elapsed, "cpu_us": cpu / n * 1e6, "commits": commits / n}


def _variant(label: str, runs: list[dict[str, float]], plain: float) -> str:
    rate = statistics.median(r["rate"] for r in runs)
    cpu = statistics.median(r["cpu_us"] for r in runs)
    commits = statistics.median(r["commits"] for r in runs)
    cost = 1 - rate / plain
    return (
        f"| {label} | {rate:,.0f} | {cpu:,.0f} | {commits:.3f} | "
        f"{'-' if label.startswith('plain') else f'{cost:+.0%}'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--memory-calls", type=int, default=300_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"plain": [], "full": [], "normal": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, run_server() as base_url:
        folder = Path(tmp)
        asyncio.run(run_once(base_url, 2_000, args.concurrency, None))  # warm-up
        for rep in range(args.reps):
            results["plain"].append(
                asyncio.run(run_once(base_url, args.calls, args.concurrency, None))
            )
            for mode, fsync in (("full", True), ("normal", False)):
                path = folder / f"{mode}{rep}.sqlite3"
                run = run_once(base_url, args.calls, args.concurrency, path, fsync=fsync)
                results[mode].append(asyncio.run(run))
        plain = statistics.median(r["rate"] for r in results["plain"])
        print(
            f"{args.calls:,} calls, concurrency {args.concurrency}, median of {args.reps}\n\n"
            "| variant | calls/s | client CPU us/call | commits/call | throughput cost |\n"
            "|---|---:|---:|---:|---:|"
        )
        print(_variant("plain send_many", results["plain"], plain))
        print(_variant("journal, fsync=True (FULL)", results["full"], plain))
        print(_variant("journal, fsync=False (NORMAL)", results["normal"], plain))
        worst = 1 - statistics.median(r["rate"] for r in results["full"]) / plain
        if args.memory_calls:
            samples: list[tuple[int, float]] = []
            path = folder / "memory.sqlite3"
            before = psutil.Process().memory_info().rss / 2**20
            memory = asyncio.run(
                run_once(base_url, args.memory_calls, args.concurrency, path, samples=samples)
            )
            size = path.stat().st_size / 2**20
            settled = next(rss for done, rss in samples if done >= args.memory_calls // 10)
            print(
                f"\njournaled send_many over a {args.memory_calls:,}-call generator: "
                f"{memory['rate']:,.0f} calls/s, journal file {size:.0f} MB\n"
                f"RSS before {before:.1f} MB, at 10% {settled:.1f} MB, at the end "
                f"{samples[-1][1]:.1f} MB (growth {samples[-1][1] - settled:+.1f} MB), "
                f"peak {peak_rss_mb():.1f} MB"
            )
    print(f"\nthroughput cost with fsync=True: {worst:.0%} (goal <= {GOAL:.0%})")


if __name__ == "__main__":
    main()
