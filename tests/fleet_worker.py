"""One dialer worker of a fleet, as a user would run it: ``python tests/fleet_worker.py ...``.

Dials ``--count`` calls (callees ``<prefix><n>``, accounts ``acct00``..) through a
RedisCoordinator and prints one JSON line per outcome, flushed as each arrives.
"""

from __future__ import annotations

import argparse
import json
import sys

import anyio

from laaffic_async import AsyncClient, Call
from laaffic_async.fleet import RedisCoordinator

KEY, SECRET, APP = "bDqJFiq9", "7bz1lzh9", "4luaKsL2"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--namespace", default="fleet-test")
    parser.add_argument("--prefix", required=True, help="callee digits before the serial")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--cps", type=float, default=30.0)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--backend", default="asyncio")
    args = parser.parse_args()

    async def run() -> None:
        coordinator = RedisCoordinator(
            args.redis, namespace=args.namespace, lease_seconds=args.lease, timeout=1.0
        )
        calls = [
            Call(callee=f"{args.prefix}{i:04d}", account=f"acct{i % args.accounts:02d}")
            for i in range(args.count)
        ]
        async with AsyncClient(
            KEY,
            SECRET,
            app_id=APP,
            base_url=args.base_url,
            concurrency=args.concurrency,
            calls_per_second=args.cps,
            coordinator=coordinator,
        ) as client:
            async for outcome in client.send_many(calls, concurrency=args.concurrency):
                error = None if outcome.error is None else type(outcome.error).__name__
                line = {"callee": outcome.call.callee, "ok": outcome.ok, "error": error}
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
        sys.stderr.write(repr(coordinator.stats) + "\n")

    anyio.run(run, backend=args.backend)


if __name__ == "__main__":
    main()
