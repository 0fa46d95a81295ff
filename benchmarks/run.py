"""Run every benchmark in one go and rewrite ``benchmarks/RESULTS.md``.

What ``nox -s bench`` runs. Each benchmark starts its own local server in a
separate process (a raw ``asyncio.Protocol`` HTTP/1.1 server, see
``_server.py``, whose spare capacity is shown in the "server busy" column),
then measures the SDK and the code a user would otherwise write side by
side, in one process and one run, and reports medians and ratios.

    python benchmarks/run.py            # full run (about half an hour on 2 cores)
    python benchmarks/run.py --quick    # small counts, one repetition (a few minutes)

Never run by the unit tests: these machines are shared and noisy, so the
numbers here are a record, not an assertion.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import bench_core  # noqa: E402
import bench_dial  # noqa: E402
import bench_export  # noqa: E402


def machine() -> str:
    """One paragraph describing where the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    packages = ", ".join(
        f"{name} {version(name)}"
        for name in ("laaffic-async", "httpx", "httpcore", "anyio", "cattrs", "aiohttp", "uvicorn")
    )
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu}); "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"load average before the run {load}; {packages}."
    )


def _script(*args: str) -> str:
    """Run a benchmark script in its own process (its memory is then its own)."""
    result = subprocess.run(
        [sys.executable, *args], cwd=HERE.parent, capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 1):
        return f"failed (exit {result.returncode}):\n\n```\n{result.stderr[-2000:]}\n```"
    return "```\n" + result.stdout.strip() + "\n```"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one repetition")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="where to write")
    args = parser.parse_args()
    quick: bool = args.quick
    started = time.perf_counter()
    sections = [f"# Benchmark results\n\nMachine: {machine()}\n"]
    sections.append(
        "Produced by `nox -s bench` (`python benchmarks/run.py"
        + (" --quick" if quick else "")
        + "`). Medians; ratios are against the plain code in the same run.\n"
    )

    print("== per-request CPU cost of the sans-I/O core", file=sys.stderr)
    core = bench_core.run()
    lines = ["| operation | median µs |", "|---|---:|"]
    lines += [f"| {row['operation']} | {row['us']:.1f} |" for row in core]
    sections.append("## Per-request CPU cost of the sans-I/O core\n\n" + "\n".join(lines))

    print("== dial throughput", file=sys.stderr)
    dial = bench_dial.run(quick=quick)
    sections.append(
        "## Dial throughput: send_many vs plain loops\n\n"
        "20,000 small sendSip POSTs per variant (fewer for the slow httpx loops), "
        "concurrency 10 / 200 / 500.\n\n" + bench_dial.format_table(dial)
    )

    print("== export throughput", file=sys.stderr)
    export_rows = []
    for latency in (0.0, 0.005):
        export_rows += bench_export.run(
            records=200_000, quick=quick, reps=1 if quick else 3, latency=latency
        )
    sections.append(
        "## Export throughput: records() vs plain page loops\n\n"
        "200,000 records (30,000 with --quick), concurrency 8, server latency 0 and 5 ms.\n\n"
        + bench_export.format_table(export_rows)
    )

    print("== export throughput, unstable ties", file=sys.stderr)
    tie_rows = []
    for latency in (0.0, 0.005):
        tie_rows += bench_export.run(
            records=200_000,
            quick=quick,
            reps=1 if quick else 3,
            latency=latency,
            only="(c) client",
            per_second=30,
            unstable_ties=True,
        )
    sections.append(
        "## Export throughput with 30 records per second in random order per query\n\n"
        "The same, against a server that puts 30 records in each second and orders the "
        "records of one second at random on every query: nearly every page boundary splits a "
        "second, which records() then reads on its own (one more request per page).\n\n"
        + bench_export.format_table(tie_rows)
    )

    print("== memory", file=sys.stderr)
    # Each measured in a child process of its own, so the peak RSS is the export's or the batch's.
    memory = bench_export.measure_memory(100_000 if quick else 1_000_000)
    dial_calls = "50000" if quick else "300000"
    sections.append(
        "## Memory\n\n"
        f"Exporting {memory.records:,} records to {memory.file_format}: peak RSS "
        f"**{memory.peak_rss_mb:.0f} MB** (target < 150 MB), {memory.seconds:.1f} s, "
        f"file {memory.file_mb:.0f} MB.\n\n"
        f"send_many over a {int(dial_calls):,}-call generator (target: flat, < 100 MB):\n\n"
        + _script("benchmarks/bench_memory_dial.py", "--calls", dial_calls)
    )

    print("== crash-safe dialing (journal)", file=sys.stderr)
    journal_args = ["--calls", "5000", "--reps", "1", "--memory-calls", "50000"] if quick else []
    sections.append(
        "## Crash-safe dialing: send_many(journal=...) vs plain send_many\n\n"
        "Throughput cost goal <= 25%; memory flat over a large generator.\n\n"
        + _script("benchmarks/bench_journal.py", *journal_args)
    )

    sections.append(f"Total run time: {time.perf_counter() - started:,.0f} s.\n")
    text = "\n\n".join(sections) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
