"""Fleet dialing: what coordination through Redis costs per call, and how a fleet scales.

What is measured
----------------
1, 2 and 4 worker processes, each dialing ``--calls`` sendSip requests with ``send_many``
(batch concurrency ``--concurrency``, callees and accounts of its own, 200 accounts each)
against the local benchmark server of ``_server.py`` (``_records_server.py``'s variant, which
can hold every answer back ``--latency`` ms like a remote API), in two modes side by side:

* ``local``: ``AsyncClient(concurrency=..., calls_per_second=...)``, limits per process;
* ``fleet``: the same budgets shared through a ``RedisCoordinator`` on a real ``redis-server``
  (a fleet concurrency of workers x concurrency and a high ``calls_per_second``, so the budget
  allows every worker its full speed and what is measured is the coordination itself).

A last run gives four fleet workers half the concurrency they ask for (``budget``): what
polling a full fleet costs in round trips per call.

Workers start together (a shared start instant); aggregate calls/s = all calls / (last
worker's end - start). Per call: client CPU (``time.process_time`` of every worker, summed,
client set-up excluded), Redis round trips (the coordinator's own count of script calls,
renewals included), and Redis server CPU (``psutil`` on the redis-server process).

Run: ``python benchmarks/bench_fleet.py [--quick] [--calls N] [--latency MS]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _records_server import run_records_server

from laaffic_async import AsyncClient, Call
from laaffic_async.fleet import RedisCoordinator

HERE = Path(__file__).resolve().parent

KEY, SECRET, APP = "bDqJFiq9", "benchmark-secret", "4luaKsL2"
HIGH_CPS = 100_000.0
# Per worker: 10 in flight against 50 ms answers, at most 200 calls/s, so a 2-core machine
# can carry four workers and the scaling shown is the coordination's, not the CPU's.
CONCURRENCY = 10
LATENCY_MS = 50.0


def _worker(args: argparse.Namespace) -> None:
    """One worker process: wait for the start instant, dial, print one JSON line of results."""

    async def run() -> dict[str, Any]:
        coordinator = None
        fleet_concurrency = args.concurrency
        if args.redis:
            coordinator = RedisCoordinator(args.redis, namespace="bench", lease_seconds=10.0)
            fleet_concurrency = args.budget or args.concurrency * args.workers
        calls = [
            Call(callee=f"93{args.index}{i:09d}", account=f"w{args.index}-{i % 200}")
            for i in range(args.calls)
        ]
        async with AsyncClient(
            KEY,
            SECRET,
            app_id=APP,
            base_url=args.base_url,
            concurrency=fleet_concurrency,
            calls_per_second=HIGH_CPS,
            coordinator=coordinator,
        ) as client:
            # Warm: one call each opens a connection (and loads the scripts into Redis).
            await client.send_sip(f"93{args.index}99999999", account=f"warm{args.index}")
            await anyio.sleep(max(0.0, args.start_at - time.time()))
            cpu0, began = time.process_time(), time.time()
            placed = 0
            async for outcome in client.send_many(calls, concurrency=args.concurrency):
                placed += outcome.ok
            ended, cpu = time.time(), time.process_time() - cpu0
        stats = coordinator.stats if coordinator is not None else None
        return {
            "placed": placed,
            "began": began,
            "ended": ended,
            "cpu": cpu,
            "round_trips": stats.round_trips if stats else 0,
            "admitted": stats.admitted if stats else 0,
        }

    print(json.dumps(anyio.run(run)), flush=True)


def _fleet_run(
    base_url: str, redis: Any, workers: int, args: argparse.Namespace, budget: int = 0
) -> dict[str, Any]:
    start_at = time.time() + 3.0 + 1.5 * workers  # after every worker has started and warmed
    procs = []
    for index in range(workers):
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--index",
            str(index),
            "--workers",
            str(workers),
            "--base-url",
            base_url,
            "--calls",
            str(args.calls),
            "--concurrency",
            str(args.concurrency),
            "--start-at",
            str(start_at),
            "--budget",
            str(budget),
        ]
        if redis is not None:
            command += ["--redis", redis.url]
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env))
    redis_cpu0 = _cpu(redis)
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        results.append(json.loads(out.strip().splitlines()[-1]))
    redis_cpu = _cpu(redis) - redis_cpu0
    calls = sum(r["placed"] for r in results)
    wall = max(r["ended"] for r in results) - start_at
    late = max(r["began"] for r in results) - start_at
    trips = sum(r["round_trips"] for r in results)
    admitted = sum(r["admitted"] for r in results) or 1
    mode = "fleet" if redis is not None else "local"
    return {
        "mode": mode + (f", budget {budget}" if budget else ""),
        "workers": workers,
        "calls": calls,
        "calls_per_s": calls / wall,
        "cpu_us": 1e6 * sum(r["cpu"] for r in results) / calls,
        "trips": trips / admitted if redis is not None else 0.0,
        "redis_us": 1e6 * redis_cpu / calls if redis is not None else 0.0,
        "late_ms": 1000 * late,
    }


def _cpu(redis: Any) -> float:
    if redis is None or redis.process is None:
        return 0.0
    times = psutil.Process(redis.process.pid).cpu_times()
    return float(times.user + times.system)


def run(
    calls: int = 1000, concurrency: int = CONCURRENCY, latency_ms: float = LATENCY_MS
) -> list[dict[str, Any]]:
    """Measure local and fleet modes for 1, 2, 4 workers; return one row per run."""
    from tests.redis_support import RedisServer, redis_binary

    args = argparse.Namespace(calls=calls, concurrency=concurrency)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, run_records_server(10, latency_ms / 1000) as served:
        base_url = served[0]
        redis = RedisServer(redis_binary(), Path(tmp))
        redis.start()
        try:
            for workers in (1, 2, 4):
                for mode in ("local", "fleet"):
                    print(f"-- {workers} worker(s), {mode}", file=sys.stderr)
                    target = redis if mode == "fleet" else None
                    rows.append(_fleet_run(base_url, target, workers, args))
            # A tight budget: four workers wanting 4 x concurrency, the fleet allowing half.
            # What polling a full fleet costs (round trips per call above 2).
            print("-- 4 worker(s), fleet, tight budget", file=sys.stderr)
            rows.append(_fleet_run(base_url, redis, 4, args, budget=2 * concurrency))
        finally:
            redis.stop()
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table, with each fleet run's ratio to one fleet worker."""
    one = {r["mode"]: r["calls_per_s"] for r in rows if r["workers"] == 1}
    base = {r["mode"]: one[r["mode"].split(",")[0]] for r in rows}
    lines = [
        "| workers | mode | calls | calls/s | x 1 worker | client CPU µs/call "
        "| Redis round trips/call | Redis CPU µs/call | last start ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fleet = r["mode"].startswith("fleet")
        trips = f"{r['trips']:.2f}" if fleet else "-"
        redis_cpu = f"{r['redis_us']:.0f}" if fleet else "-"
        lines.append(
            f"| {r['workers']} | {r['mode']} | {r['calls']:,} | {r['calls_per_s']:,.0f} "
            f"| {r['calls_per_s'] / base[r['mode']]:.2f} | {r['cpu_us']:.0f} | {trips} "
            f"| {redis_cpu} | {r['late_ms']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    parser.add_argument("--calls", type=int, default=None, help="calls per worker")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="per worker")
    parser.add_argument("--latency", type=float, default=LATENCY_MS, help="server latency, ms")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--redis", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    calls = args.calls or (300 if args.quick else 1000)
    rows = run(calls, args.concurrency, args.latency)
    print(
        f"{calls:,} calls per worker, batch concurrency {args.concurrency} per worker, "
        f"server latency {args.latency:g} ms, calls_per_second {HIGH_CPS:,.0f}\n"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
