"""``laaffic-async demo``: the whole SDK in under a minute, on the embedded sandbox.

1. The sandbox starts in-process with the vendor's sample credentials and a
   history of call records spread over the last weeks.
2. A :class:`~laaffic_async.webhooks.PushReceiver` is served on a local port;
   the sandbox pushes a call report to it for every call it places, each
   delivered twice, as the platform's retries would.
3. ``send_many`` dials a few thousand calls with a live progress bar.
4. ``records()`` exports every record of a window longer than 31 days (so
   the 31-day slicing shows) to a CSV file.
5. A summary table says what happened.

Nothing leaves the machine: the client talks to the sandbox in-process and
the pushes go over 127.0.0.1.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import attrs

from .._client import AsyncClient
from .._dialing.progress import BatchProgress
from .._paging.export import export_records
from .._paging.records import RecordProgress
from .._push.receiver import PushReceiver
from ..events import PushEvent, VoiceReport
from ..models import Call
from ..testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Faults,
    Pusher,
    Sandbox,
    SandboxState,
    SandboxTransport,
    seed_records,
    serve_in_thread,
)


@attrs.frozen
class DemoOptions:
    """What the demo does; every field has the CLI's default."""

    calls: int = 3000
    accounts: int = 300
    concurrency: int = 100
    history: int = 20_000
    days: int = 45
    out: Path = Path("demo-records.csv")
    latency: float = 0.002


@attrs.define
class DemoSummary:
    """What the demo measured."""

    placed: int = 0
    failed: int = 0
    unknown: int = 0
    dial_seconds: float = 0.0
    pushes_received: int = 0
    push_duplicates: int = 0
    records: int = 0
    slices: int = 0
    export_seconds: float = 0.0
    out: Path = Path()


Reporter = Callable[[str, int, int], None]


async def run_demo(options: DemoOptions, report: Reporter | None = None) -> DemoSummary:
    """Run the demo; ``report(stage, done, total)`` is called as it goes."""
    say: Reporter = report or (lambda stage, done, total: None)
    summary = DemoSummary(out=options.out)
    now = datetime.now(UTC)
    # A sandbox with history, so the export spans several 31-day slices.
    sandbox = Sandbox(SandboxState(call_seconds=0.0), Faults(latency=options.latency))
    window_start = now - timedelta(days=options.days)
    seed_records(sandbox, options.history, window_start, now - timedelta(minutes=1), seed=7)

    seen: set[str] = set()

    async def on_push(event: PushEvent) -> None:
        if isinstance(event, VoiceReport):
            seen.add(event.voice_id)

    with tempfile.TemporaryDirectory() as spool_dir:
        receiver = PushReceiver(on_push, spool=Path(spool_dir) / "pushes.sqlite3", fsync=False)
        with serve_in_thread(receiver, prefix="") as receiver_url:
            pusher = Pusher(receiver_url + "/", copies=2, concurrency=8)
            pusher.attach(sandbox)
            async with (
                pusher,
                AsyncClient(
                    SAMPLE_API_KEY,
                    SAMPLE_API_SECRET,
                    app_id=SAMPLE_APP_ID,
                    base_url="http://sandbox/v3",
                    transport=SandboxTransport(sandbox),
                    max_connections=options.concurrency,
                ) as client,
            ):
                await _dial(client, options, summary, say)
                await _wait_for_pushes(pusher, seen, summary, say)
                await _export(client, window_start, options, summary, say)
            stats = receiver.stats()
            summary.push_duplicates = stats.duplicates
    return summary


async def _dial(
    client: AsyncClient, options: DemoOptions, summary: DemoSummary, say: Reporter
) -> None:
    calls = (
        Call(
            callee=f"9321{n:08d}",
            account=f"agent{n % options.accounts:04d}",
            called_info=f"demo row {n}",
        )
        for n in range(options.calls)
    )
    progress = BatchProgress()
    started = time.perf_counter()
    async for _ in client.send_many(calls, concurrency=options.concurrency, progress=progress):
        say("dial", progress.done, options.calls)
    summary.dial_seconds = time.perf_counter() - started
    summary.placed, summary.failed, summary.unknown = (
        progress.placed,
        progress.failed,
        progress.unknown,
    )


async def _wait_for_pushes(
    pusher: Pusher, seen: set[str], summary: DemoSummary, say: Reporter
) -> None:
    expected = summary.placed
    with anyio.move_on_after(60):
        while len(seen) < expected:
            say("pushes", len(seen), expected)
            await anyio.sleep(0.1)
        await pusher.join()
    say("pushes", len(seen), expected)
    summary.pushes_received = len(seen)


async def _export(
    client: AsyncClient,
    window_start: datetime,
    options: DemoOptions,
    summary: DemoSummary,
    say: Reporter,
) -> None:
    def on_progress(p: RecordProgress) -> None:
        say("export", p.records, p.total if p.total_known else 0)
        summary.slices = p.slices_done

    started = time.perf_counter()
    # The window ends a little in the future so the calls just placed are in it.
    end = datetime.now(UTC) + timedelta(minutes=1)
    result = await export_records(
        client, window_start, end, options.out, concurrency=8, on_progress=on_progress
    )
    summary.export_seconds = time.perf_counter() - started
    summary.records = result.rows
    summary.slices = result.slices


def summary_rows(summary: DemoSummary) -> list[tuple[str, Any]]:
    """The summary as (label, value) rows, for a table."""
    dial_rate = summary.placed / summary.dial_seconds if summary.dial_seconds else 0.0
    export_rate = summary.records / summary.export_seconds if summary.export_seconds else 0.0
    return [
        ("calls placed", summary.placed),
        ("calls failed", summary.failed),
        ("outcome unknown", summary.unknown),
        ("calls/s", f"{dial_rate:,.0f}"),
        ("pushes received (once each)", summary.pushes_received),
        ("redeliveries dropped", summary.push_duplicates),
        ("records exported", summary.records),
        ("31-day slices", summary.slices),
        ("records/s", f"{export_rate:,.0f}"),
        ("file written", str(summary.out)),
    ]
