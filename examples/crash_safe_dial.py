"""A campaign that survives being killed: ``send_many`` with a ``DialJournal``.

Usage::

    python examples/crash_safe_dial.py [HOW_MANY] [--journal campaign.sqlite3]

Run it, kill it (Ctrl-C, kill -9) and run it again: rows already placed are
replayed from the journal, never dialed again; rows that were in flight are
looked up in the call records first.  Without ``LAAFFIC_API_KEY`` it runs
against the in-process sandbox with faults switched on (10% of calls
dropped after the server placed them, 5% dropped before, 4% answered 502
before anything ran), so you can watch reconciliation settle every unknown
outcome.  With it (and ``LAAFFIC_API_SECRET``, ``LAAFFIC_APP_ID``) it dials
real people, with the conservative default ``settle`` of 120 s.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

import anyio

from laaffic_async import AsyncClient, Call
from laaffic_async.journal import DialJournal
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Faults,
    Sandbox,
    SandboxTransport,
)


def make_client() -> tuple[AsyncClient, float]:
    """A client, and the settle time that fits where it dials."""
    if os.environ.get("LAAFFIC_API_KEY"):
        return AsyncClient(concurrency=20, calls_per_second=10.0), 120.0
    faults = Faults(
        drop_rate=0.10,
        drop_before_rate=0.05,
        error_rate=0.04,
        error_status=502,
        endpoints=frozenset({"voice/sendSip"}),
        seed=1,
    )
    client = AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(Sandbox(faults=faults)),
    )
    return client, 0.5  # the sandbox shows a call's record at once


async def main(how_many: int, journal_path: str) -> None:
    # Each row's ref is its own stable key (here: its position in the campaign).
    calls = (
        Call(callee=f"9321{n:08d}", account=f"agent{n % 8}", ref=f"row-{n}")
        for n in range(how_many)
    )
    client, settle = make_client()
    tally: Counter[str] = Counter()
    async with client, DialJournal(journal_path) as journal:
        async for outcome in client.send_many(calls, journal=journal, settle=settle):
            if outcome.ok:
                tally["replayed" if outcome.replayed else "placed"] += 1
            else:
                tally["not placed"] += 1
                print(f"{outcome.call.ref}: {outcome.error}")
    print(
        f"placed {tally['placed']}, replayed {tally['replayed']}, not placed {tally['not placed']}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("how_many", nargs="?", type=int, default=40)
    parser.add_argument("--journal", default="campaign.sqlite3")
    args = parser.parse_args()
    anyio.run(main, args.how_many, args.journal)
