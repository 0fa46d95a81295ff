"""False unknown outcomes from stale keep-alive connections, before and after issue 10.

The scene: a server closes connections idle for 1 s (as many production servers do), and a
dialer sends bursts of calls with pauses of about that long. A call written on a connection
the server is closing at that moment fails after its body left, so the SDK must report an
``OutcomeUnknownError`` although the server never saw the call: a *false unknown* that a
dialer then has to reconcile. Counted here per backend, against the benchmark server
(``_server.py``) with ``idle_timeout=1`` in two modes: ``quiet`` (it closes without saying so,
like uvicorn) and ``advertise`` (it sends ``Keep-Alive: timeout=1``, like Apache or nginx with
a header timeout). ``false unknown`` = calls the server never received that were reported
unknown (never a double dial either way).

    python benchmarks/bench_keepalive.py [--rounds 20] [--burst 20] [--expiry 0.5]

Run with ``PYTHONPATH`` pointing at an older checkout to measure the "before".

Measured (2 shared cores, loopback, 400 calls per run; false unknowns out of 400):

=========  ========  =======  ======================  ====================  ==========
server     backend   loop     before (commit b25a91a)  after, defaults      after, expiry 0.5
=========  ========  =======  ======================  ====================  ==========
quiet      pooled    asyncio  19                      0                     0
quiet      pooled    trio     23                      13                    0
quiet      aiohttp   asyncio  15                      20                    0
quiet      httpx     asyncio  0                       1                     0
advertise  pooled    asyncio  11                      0                     0
advertise  pooled    trio     27                      0                     0
advertise  aiohttp   asyncio  0                       0                     0
advertise  httpx     asyncio  0                       0                     0
=========  ========  =======  ======================  ====================  ==========

A server that advertises its timeout is now handled by default. One that closes silently
races any client whose ``keepalive_expiry`` (5 s by default, as httpx) exceeds the server's
idle timeout: there the numbers are noise around a real rate, and ``keepalive_expiry`` below
the server's timeout removes it.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import sys
from typing import Any

import anyio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _server import run_server, server_stats

from laaffic_async import AsyncClient, OutcomeUnknownError

VARIANTS = [("pooled", "asyncio"), ("pooled", "trio"), ("aiohttp", "asyncio"), ("httpx", "asyncio")]


async def bursts(
    base_url: str, backend: str, rounds: int, burst: int, **kwargs: Any
) -> dict[str, int]:
    """``rounds`` bursts of ``burst`` concurrent calls, 0.85-1.15 s apart."""
    pauses = random.Random(7)
    counts = {"ok": 0, "unknown": 0, "failed": 0}

    async def one(client: AsyncClient, i: int) -> None:
        try:
            await client.send_sip(f"9321{i:08d}", account=f"a{i % burst}")
            counts["ok"] += 1
        except OutcomeUnknownError:
            counts["unknown"] += 1
        except Exception:
            counts["failed"] += 1

    async with AsyncClient(
        "k", "s", app_id="app", base_url=base_url, http_backend=backend, **kwargs
    ) as client:  # type: ignore[arg-type]
        for r in range(rounds):
            async with anyio.create_task_group() as tg:
                for i in range(burst):
                    tg.start_soon(one, client, r * burst + i)
            await anyio.sleep(pauses.uniform(0.85, 1.15))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--expiry", type=float, default=None, help="keepalive_expiry= to pass")
    args = parser.parse_args()
    kwargs = {} if args.expiry is None else {"keepalive_expiry": args.expiry}
    calls = args.rounds * args.burst
    print(f"{calls} calls per run, bursts of {args.burst}, server idle timeout 1 s {kwargs}")
    print(f"{'server':10} {'backend':8} {'loop':8} {'ok':>5} {'unknown':>8} {'false unknown':>14}")
    for mode in ("quiet", "advertise"):
        for backend, loop in VARIANTS:
            with run_server(1000, idle_timeout=1.0, advertise=mode == "advertise") as url:
                before, _ = server_stats(url)
                run = functools.partial(bursts, url, backend, args.rounds, args.burst, **kwargs)
                counts = anyio.run(run, backend=loop)
                after, _ = server_stats(url)
            received = after - before - 1  # the first /__stats request counts itself
            false_unknown = calls - received - counts["failed"]
            print(
                f"{mode:10} {backend:8} {loop:8} {counts['ok']:5} {counts['unknown']:8} "
                f"{false_unknown:14}"
            )


if __name__ == "__main__":
    main()
