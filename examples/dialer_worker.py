"""A dialer worker: numbers arrive on a queue, calls go out under shared limits.

Usage::

    python examples/dialer_worker.py [HOW_MANY]

The queue here is an anyio memory stream fed by a producer task; in a real
service it is Redis, SQS or a database table. ``send_many`` reads it
lazily, so the worker holds only what is in flight. Each outcome is
"acked" back: placed and failed calls are done, an unknown outcome is
parked for reconciliation and never re-queued (re-sending could ring the
person twice).

Without ``LAAFFIC_API_KEY`` it runs against the in-process sandbox; with it
(and ``LAAFFIC_API_SECRET``, ``LAAFFIC_APP_ID``) it dials real people.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from laaffic_async import AsyncClient, Call, OutcomeUnknownError
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
    sandbox = Sandbox(SandboxState(call_seconds=0.05), Faults(latency=0.01))
    return AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
    )


async def calls_from(queue: MemoryObjectReceiveStream[dict[str, str]]) -> AsyncIterator[Call]:
    """Turn queue messages into validated calls; a bad message is reported, never sent."""
    async with queue:
        async for message in queue:
            try:
                yield Call(callee=message["callee"], account=message["account"])
            except ValueError as exc:
                print(f"rejected message {message}: {exc}", file=sys.stderr)


async def main(how_many: int) -> None:
    send, receive = anyio.create_memory_object_stream[dict[str, str]](max_buffer_size=100)

    async def producer() -> None:
        async with send:
            for n in range(how_many):
                await send.send({"callee": f"9321{n:08d}", "account": f"line{n % 10}"})
            await send.send({"callee": "not-a-number", "account": "line0"})

    done = unknown = failed = 0
    async with make_client() as client, anyio.create_task_group() as tg:
        tg.start_soon(producer)
        async for outcome in client.send_many(calls_from(receive), concurrency=20):
            if outcome.ok:
                done += 1
            elif isinstance(outcome.error, OutcomeUnknownError):
                unknown += 1  # park for reconciliation against the call records
            else:
                failed += 1
    print(f"placed {done}, failed {failed}, unknown {unknown}")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 200)
