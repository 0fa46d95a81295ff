"""Record export: ``client.records()`` against plain httpx paging loops, and export memory.

What is measured (same run, same local server, medians over repetitions):

* (a) a plain sequential loop, written the way a user would: ``httpx.AsyncClient``, one
  31-day window after the other, page after page, ``response.json()``, no models;
* (b) the same loop fetching each window's pages concurrently (page 1 first for the count,
  then the rest with a semaphore of the same concurrency), still no models;
* (c) ``async for record in client.records(start, end, concurrency=c)``: slices, concurrent
  pages, exactly-once bookkeeping and typed ``CallRecord`` values.

Targets (issue 4): (c) >= 2x (a), and (c) >= 0.67x (b). Then the peak RSS of exporting
1,000,000 records to CSV with ``export_records`` in a child process of its own (target
< 150 MB), and with ``--profile`` where ``records()`` spends its time.

The server is ``_records_server.py``: ``_server.py``'s HTTP machinery with a recordSipQuery that
honours its time window (see there why), optionally holding every answer back ``--latency`` ms
(default runs: 0 and 5). Run: ``python benchmarks/bench_export.py``
(``--quick``, ``--records N``, ``--rss-records N``, ``--latency MS``, ``--profile``).

Measured (2-core shared machine, 200,000 records, concurrency 8, medians of 3; the machine is
noisy, so read the CPU column more than the rate):

=========  ==================================  ==========  ==========  =====  =====
latency    variant                             records/s   CPU us/rec  x (a)  x (b)
=========  ==================================  ==========  ==========  =====  =====
0 ms       (a) httpx sequential loop              124,177         7.9   1.00   1.27
0 ms       (b) httpx concurrent, no models         97,765        10.2   0.79   1.00
0 ms       (c) client.records()                    98,435        10.2   0.79   1.01
5 ms       (a) httpx sequential loop               13,500        21.2   1.00   0.15
5 ms       (b) httpx concurrent, no models         92,376         9.6   6.84   1.00
5 ms       (c) client.records()                    93,282        10.3   6.91   1.01
=========  ==================================  ==========  ==========  =====  =====

With no latency every variant is CPU-bound in one Python thread, so concurrency cannot win: the
sequential loop does the least work. Once the server takes any time (5 ms is a fast server on a
near network; a real remote API takes tens of ms) concurrent pages win. How (c) got from 0.49x
of (b) to par, profile by profile (``--profile``):

* decoding into models was ~30% of (c)'s CPU: the converter's generated hook now converts the
  usual wire types inline (a page: 575 -> 487 us; ``json.loads`` alone is ~200);
* httpx's client layer and pool were another ~30%: the client now sends API calls through
  ``PooledTransport.exchange`` (no httpx ``Request``/``Response`` models);
* and (c) was not using the CPU it had: pages were fetched in rounds, with nothing in flight
  while a round's records were handed out; they now stream from workers in the client's task
  group (the client went from ~75% to ~95% busy at 5 ms).

Export of 1,000,000 records to CSV, child process: peak RSS 52 MB (target < 150 MB), 22 s.

Busy dialers submit many calls per second, and a server may order the records of one second
differently on every query. ``--per-second 30 --unstable-ties`` serves that: nearly every page
boundary then splits a second, which records() reads on its own to stay exactly once (one more
request of ~30 records per page of 100; 30,000 records: 501 requests instead of 301). Measured
with 50,000 records, concurrency 8, on the same loaded 2-core machine (medians of 3; rates
swung 2x between runs, the CPU column is steadier):

=========  ===================================  ============  ==========  =====
latency    variant                              records/s     CPU us/rec  x (b)
=========  ===================================  ============  ==========  =====
0 ms       (c) records(), stable ties, before        24,924        17.0    0.97
0 ms       (c) records(), stable ties, now           25,775        17.0    0.81
0 ms       (c) records(), 30/s unstable, now         17,530        25.2    0.41
5 ms       (c) records(), 30/s unstable, now         19,949        23.4    0.44
=========  ===================================  ============  ==========  =====

Interleaved A/B runs of today's and the previous records() against one 30/s unstable server
(previous = wrong results there, but its speed): 0.69x and 0.90x at 0 ms, 1.07x at 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _records_server import run_records_server
from _rss import peak_rss_mb
from _server import server_stats
from bench_dial import API_KEY, API_SECRET, signed_headers

from laaffic_async import AsyncClient
from laaffic_async._paging.export import export_records

PAGE_SIZE = 100
CONCURRENCY = 8
MAX_WINDOW = timedelta(days=31)
SECOND = timedelta(seconds=1)

# A variant reads every record of [start, end] and returns how many it saw.
Variant = Callable[[str, datetime, datetime, int], Coroutine[Any, Any, int]]


def windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """What a user writes to respect the 31-day rule: consecutive windows, one second apart."""
    out = []
    while start <= end:
        stop = min(start + MAX_WINDOW, end)
        out.append((start, stop))
        start = stop + SECOND
    return out


def _query(current: int, start: datetime, end: datetime) -> dict[str, object]:
    params = {"strTime": start.isoformat(timespec="seconds"), "endTime": end.isoformat()}
    return {"current": current, "size": PAGE_SIZE, "params": params}


async def _page(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> dict[str, object]:
    response = await client.post(url, json=body, headers=signed_headers())
    response.raise_for_status()
    answer = response.json()
    if answer.get("status") != "0":
        raise RuntimeError(f"unexpected answer: {answer!r}")
    data: dict[str, object] = answer["data"]
    return data


async def sequential_loop(base_url: str, start: datetime, end: datetime, _: int) -> int:
    """(a) httpx, page after page, no models."""
    url, seen = f"{base_url}/voice/recordSipQuery", 0
    async with httpx.AsyncClient() as client:
        for low, high in windows(start, end):
            current = 1
            while True:
                data = await _page(client, url, _query(current, low, high))
                seen += len(data["records"])  # type: ignore[arg-type]
                if current >= data["pages"]:  # type: ignore[operator]
                    break
                current += 1
    return seen


async def concurrent_loop(base_url: str, start: datetime, end: datetime, concurrency: int) -> int:
    """(b) httpx, page 1 for the count, then the other pages concurrently; no models."""
    url, seen = f"{base_url}/voice/recordSipQuery", 0
    async with httpx.AsyncClient() as client:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(current: int, low: datetime, high: datetime) -> int:
            async with semaphore:
                data = await _page(client, url, _query(current, low, high))
                return len(data["records"])  # type: ignore[arg-type]

        for low, high in windows(start, end):
            first = await _page(client, url, _query(1, low, high))
            seen += len(first["records"])  # type: ignore[arg-type]
            pages = range(2, int(first["pages"]) + 1)  # type: ignore[call-overload]
            seen += sum(await asyncio.gather(*(one(p, low, high) for p in pages)))
    return seen


async def sdk_records(
    base_url: str,
    start: datetime,
    end: datetime,
    concurrency: int,
    backend: Literal["pooled", "aiohttp"] = "pooled",
) -> int:
    """(c) client.records(): typed CallRecords, exactly once (the default install)."""
    seen = 0
    client = AsyncClient(API_KEY, API_SECRET, base_url=base_url, http_backend=backend)
    async with client:
        async for _ in client.records(start, end, page_size=PAGE_SIZE, concurrency=concurrency):
            seen += 1
    return seen


VARIANTS: dict[str, Variant] = {
    "(a) httpx sequential loop": sequential_loop,
    "(b) httpx concurrent loop, no models": concurrent_loop,
    "(c) client.records()": sdk_records,
}

# The same records() with the fast extra (AsyncClient(http_backend="aiohttp")), if installed.
try:
    import aiohttp  # noqa: F401

    async def _fast(base_url: str, start: datetime, end: datetime, concurrency: int) -> int:
        return await sdk_records(base_url, start, end, concurrency, backend="aiohttp")

    VARIANTS["(c') client.records(), fast extra"] = _fast
except ImportError:  # pragma: no cover - the `fast` extra
    pass


@dataclass(frozen=True)
class Row:
    """One variant: medians over the repetitions."""

    variant: str
    records: int
    concurrency: int
    latency_ms: float
    records_per_s: float
    cpu_us_per_record: float
    vs_sequential: float
    vs_concurrent: float
    server_busy: float


def run(
    records: int = 200_000,
    concurrency: int = CONCURRENCY,
    reps: int = 3,
    quick: bool = False,
    latency: float = 0.0,
    only: str = "",
    per_second: int = 1,
    unstable_ties: bool = False,
) -> list[Row]:
    """Measure the variants at one server latency; one row each (for ``run.py``).

    ``only`` keeps the variants whose name contains it, besides (a) and (b) (the ratios').
    ``per_second``/``unstable_ties``: the server's rows per occupied second, and whether it
    orders the rows of one second at random on every query (``_records_server.py``).
    """
    if quick:
        records, reps = min(records, 30_000), 1
    chosen = {
        name: variant
        for name, variant in VARIANTS.items()
        if name.startswith(("(a)", "(b)")) or only in name
    }
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in chosen}
    server = run_records_server(records, latency, per_second, unstable_ties)
    with server as (base_url, newest, oldest):
        start, end = oldest, newest + SECOND
        for variant in chosen.values():  # warm-up: fills the server's page cache
            asyncio.run(variant(base_url, start, end, concurrency))
        for rep in range(reps):
            for name, variant in chosen.items():
                _, server0 = server_stats(base_url)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                seen = asyncio.run(variant(base_url, start, end, concurrency))
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                _, server1 = server_stats(base_url)
                if seen != records:
                    raise RuntimeError(f"{name} saw {seen} records, not {records}")
                samples[name].append((seen / wall, 1e6 * cpu / seen, (server1 - server0) / wall))
                print(
                    f"  latency {1000 * latency:g} ms rep {rep + 1}/{reps} {name:<38} "
                    f"{seen / wall:>9,.0f} records/s "
                    f"{1e6 * cpu / seen:6.1f} us CPU/record",
                    file=sys.stderr,
                    flush=True,
                )
    medians = {name: statistics.median(s[0] for s in runs) for name, runs in samples.items()}
    sequential, concurrent = (
        medians["(a) httpx sequential loop"],
        medians["(b) httpx concurrent loop, no models"],
    )
    return [
        Row(
            variant=name,
            records=records,
            concurrency=concurrency,
            latency_ms=1000 * latency,
            records_per_s=medians[name],
            cpu_us_per_record=statistics.median(s[1] for s in runs),
            vs_sequential=medians[name] / sequential,
            vs_concurrent=medians[name] / concurrent,
            server_busy=statistics.median(s[2] for s in runs),
        )
        for name, runs in samples.items()
    ]


def format_table(rows: list[Row]) -> str:
    """A Markdown table of the rows."""
    lines = [
        "| server latency | variant | records | conc. | records/s | CPU us/record | x (a) | x (b) "
        "| server busy |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.latency_ms:g} ms | {row.variant} | {row.records:,} | {row.concurrency} "
            f"| {row.records_per_s:,.0f} "
            f"| {row.cpu_us_per_record:.1f} | {row.vs_sequential:.2f} | {row.vs_concurrent:.2f} "
            f"| {100 * row.server_busy:.0f}% |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class MemoryRow:
    """Peak RSS of one export, measured in a child process that only exports."""

    records: int
    file_format: str
    peak_rss_mb: float
    seconds: float
    file_mb: float


async def _export_child(base_url: str, start: str, end: str, out: str, file_format: str) -> None:
    async with AsyncClient(API_KEY, API_SECRET, base_url=base_url) as client:
        began = time.perf_counter()
        result = await export_records(
            client,
            datetime.fromisoformat(start),
            datetime.fromisoformat(end),
            out,
            file_format=file_format,
            concurrency=CONCURRENCY,
        )
        elapsed = time.perf_counter() - began
    peak_kb = peak_rss_mb() * 1024
    print(json.dumps({"rows": result.rows, "peak_kb": peak_kb, "seconds": elapsed}))


def measure_memory(records: int = 1_000_000, file_format: str = "csv") -> MemoryRow:
    """Export ``records`` rows to a temporary file in a fresh process; report its peak RSS."""
    with (
        run_records_server(records) as (base_url, newest, oldest),
        tempfile.TemporaryDirectory() as scratch,
    ):
        out = os.path.join(scratch, f"calls.{file_format}")
        child = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--export-child",
                base_url,
                oldest.isoformat(),
                (newest + SECOND).isoformat(),
                out,
                file_format,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(child.stdout.strip().splitlines()[-1])
        size = os.path.getsize(out)
    if report["rows"] != records:
        raise RuntimeError(f"exported {report['rows']} rows, not {records}")
    return MemoryRow(records, file_format, report["peak_kb"] / 1024, report["seconds"], size / 1e6)


def profile(records: int = 100_000, concurrency: int = CONCURRENCY, top: int = 25) -> str:
    """cProfile of one ``records()`` run: the functions where the time goes."""
    with run_records_server(records) as (base_url, newest, oldest):
        start, end = oldest, newest + SECOND
        asyncio.run(sdk_records(base_url, start, end, concurrency))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(sdk_records(base_url, start, end, concurrency))
        profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer).sort_stats("tottime")
    stats.print_stats(top)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30,000 records, one repetition")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--latency",
        type=float,
        action="append",
        help="server latency in ms, repeatable (default: 0 and 5)",
    )
    parser.add_argument("--rss-records", type=int, default=1_000_000, help="0 skips it")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of records()")
    parser.add_argument("--only", default="", help="variant name substring, besides (a) and (b)")
    parser.add_argument("--per-second", type=int, default=1, help="rows per occupied second")
    parser.add_argument(
        "--unstable-ties", action="store_true", help="a second's rows in random order per query"
    )
    parser.add_argument("--export-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        asyncio.run(_export_child(*args.export_child))
        return
    if args.profile:
        print(profile(min(args.records, 100_000), args.concurrency))
        return
    rows = [
        row
        for latency in args.latency or [0.0, 5.0]
        for row in run(
            args.records,
            args.concurrency,
            args.reps,
            args.quick,
            latency / 1000,
            args.only,
            args.per_second,
            args.unstable_ties,
        )
    ]
    ties = "unstable" if args.unstable_ties else "stable"
    print(
        f"recordSipQuery paging, page size {PAGE_SIZE}, {args.per_second} record(s) per second, "
        f"{ties} ties, medians of {1 if args.quick else args.reps}"
    )
    print(format_table(rows))
    if args.rss_records:
        memory = measure_memory(100_000 if args.quick else args.rss_records)
        print(
            f"\nexport of {memory.records:,} records to {memory.file_format}: peak RSS "
            f"{memory.peak_rss_mb:.0f} MB (target < 150 MB), {memory.seconds:.1f} s "
            f"({memory.records / memory.seconds:,.0f} records/s), file {memory.file_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
