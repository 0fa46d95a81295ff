"""Public usage, type-checked by mypy --strict and never run (pytest does not collect it).

If a signature changes in a way that breaks users' typed code, `nox -s typing` fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from laaffic_async import (
    ITNIOTECH,
    AsyncClient,
    BatchProgress,
    Call,
    CallOutcome,
    CallRecord,
    DialLimits,
    ExportResult,
    HttpBackend,
    LaafficError,
    OutcomeUnknownError,
    PlacedCall,
    PushEvent,
    ReconcileResult,
    RecordPage,
    VoiceReport,
    export_records,
)
from laaffic_async import PushReceiver as TopLevelPushReceiver
from laaffic_async.fleet import RedisSpool
from laaffic_async.journal import DialJournal
from laaffic_async.testing import Sandbox, SandboxTransport
from laaffic_async.webhooks import PushReceiver, PushStats


async def usage() -> None:
    async with AsyncClient(
        "key", "secret", app_id="app", base_url=ITNIOTECH, transport=SandboxTransport(Sandbox())
    ) as client:
        placed: PlacedCall = await client.send_sip("932111111111", account="a")
        voice_id: str = placed.voice_id
        progress = BatchProgress()
        calls = [Call(callee="932111111111", account="a")]
        async for outcome in client.send_many(calls, concurrency=10, progress=progress):
            checked: CallOutcome = outcome
            ok: bool = checked.ok
            error: LaafficError | None = checked.error
            unknown = isinstance(error, OutcomeUnknownError)
            del ok, unknown
        async with DialJournal("campaign.sqlite3") as journal:
            refs = [Call(callee="932111111111", account="a", ref="row-1")]
            run = client.send_many(refs, journal=journal, redial_unplaced=False, settle=60.0)
            async for outcome in run:
                replayed: bool = outcome.replayed
                if isinstance(outcome.error, OutcomeUnknownError):
                    sent_at: datetime | None = outcome.error.sent_at
                    result: ReconcileResult = await client.reconcile(outcome, settle=120.0)
                    found: CallRecord | None = result.record
                    placed_id: str | None = result.voice_id
                    is_placed: bool = result.placed
                    del sent_at, found, placed_id, is_placed
                del replayed
        end = datetime.now(UTC)
        page: RecordPage = await client.record_page(end - timedelta(days=1), end)
        async for record in client.records(end - timedelta(days=40), end):
            row: CallRecord = record
            cost: Decimal | None = row.cost
            when: datetime = row.submit_time
            del cost, when
        del voice_id, page


async def on_push(event: PushEvent) -> None:
    if isinstance(event, VoiceReport):
        voice_id: str = event.voice_id
        del voice_id


receiver = PushReceiver(on_push, spool=None)
workers = PushReceiver(on_push, spool="pushes.sqlite3", lease_seconds=30.0)
replicas = PushReceiver(on_push, spool=RedisSpool("redis://localhost:6379/0", namespace="pushes"))
stats: PushStats = replicas.stats()
per_process: tuple[int, int, int, int, int] = (
    stats.received,
    stats.duplicates,
    stats.handled,
    stats.retried,
    stats.taken_over,
)


async def exports(backend: HttpBackend = "pooled") -> None:
    async with AsyncClient("key", "secret", http_backend=backend) as client:
        limits: DialLimits = client.limits
        end = datetime.now(UTC)
        result: ExportResult = await export_records(client, end - timedelta(days=1), end, "x.csv")
        rows: int = result.rows
        del limits, rows


top_level: TopLevelPushReceiver = receiver


async def fleet_usage() -> None:
    from laaffic_async import CoordinationError
    from laaffic_async.fleet import RedisCoordinator

    coordinator = RedisCoordinator("redis://127.0.0.1:6379/0", namespace="eu", lease_seconds=30.0)
    async with AsyncClient(
        "key", "secret", concurrency=50, calls_per_second=20, coordinator=coordinator
    ) as client:
        try:
            await client.send_sip("932111111111", account="a")
        except CoordinationError as exc:
            reason: str = str(exc)
            del reason


def observed() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    tracing, metering = TracerProvider(), MeterProvider()
    client = AsyncClient("key", "secret", tracer_provider=tracing, meter_provider=metering)
    quiet = AsyncClient("key", "secret", telemetry=False)
    pushes = PushReceiver(on_push, spool=None, tracer_provider=tracing, meter_provider=metering)
    del client, quiet, pushes
