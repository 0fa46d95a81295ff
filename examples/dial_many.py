"""Dial a list of numbers concurrently with ``send_many``, printing each outcome as it lands.

Usage::

    python examples/dial_many.py [HOW_MANY]

Without ``LAAFFIC_API_KEY`` in the environment it runs against the
in-process sandbox (calls keep their account busy for 0.2 s, so some -68
"account busy" answers are retried); with it (and ``LAAFFIC_API_SECRET``,
``LAAFFIC_APP_ID``) it talks to the real platform and dials real people.
"""

from __future__ import annotations

import os
import sys

import anyio

from laaffic_async import AsyncClient, BatchProgress, Call, OutcomeUnknownError
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Faults,
    Sandbox,
    SandboxState,
    SandboxTransport,
)


def make_client() -> AsyncClient:
    if os.environ.get("LAAFFIC_API_KEY"):
        return AsyncClient(concurrency=20, calls_per_second=10.0)
    sandbox = Sandbox(SandboxState(call_seconds=0.2), Faults(latency=0.05))
    return AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
    )


async def main(how_many: int) -> None:
    # A generator: ten rows or ten million, only a few are in memory at a time.
    calls = (
        Call(callee=f"9321{n:08d}", account=f"agent{n % 8}", called_info=f"row {n}")
        for n in range(how_many)
    )
    progress = BatchProgress()
    async with (
        make_client() as client,
        client.batch(calls, concurrency=8, busy_delay=0.1, progress=progress) as batch,
    ):
        async for outcome in batch:
            if outcome.ok:
                print(f"{outcome.call.callee}: placed, voice id {outcome.voice_id}")
            elif isinstance(outcome.error, OutcomeUnknownError):
                print(f"{outcome.call.callee}: UNKNOWN, check the records before redialing")
            else:
                print(f"{outcome.call.callee}: failed: {outcome.error}")
    print(
        f"{progress.placed} placed, {progress.failed} failed, {progress.unknown} unknown, "
        f"{progress.busy} busy answers retried, {progress.rate:.1f} calls/s"
    )


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 24)
