"""OpenTelemetry for the features: a send_many batch and a records() export are spans with
their counts, and the metrics agree with the SDK's own counters (BatchProgress, RecordProgress,
the push receiver's stats).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest

from laaffic_async import AsyncClient, BatchProgress, Call, RetryPolicy
from laaffic_async.testing import Faults, Sandbox, SandboxTransport, seed_records, serve_in_thread
from laaffic_async.webhooks import PushReceiver

from .batch_support import APP, KEY, SECRET
from .otel_support import Telemetry
from .webhook_helpers import Collector, call, eventually, post_json, voice_report

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
OUTCOMES = "laaffic.dial.outcomes"


def traced(sandbox: Sandbox, telemetry: Telemetry, **kwargs: object) -> AsyncClient:
    return AsyncClient(
        KEY,
        SECRET,
        app_id=APP,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
        retry=FAST_RETRY,
        **telemetry.providers,
        **kwargs,  # type: ignore[arg-type]
    )


def outcome(telemetry: Telemetry, name: str) -> float:
    return telemetry.total(OUTCOMES, {"laaffic.outcome": name})


async def test_dial_outcome_counter_equals_the_batchs_own_counts(telemetry: Telemetry) -> None:
    sandbox = Sandbox()
    sandbox.state.call_seconds = 0.02  # an account stays busy (-68) briefly after each call
    sandbox.state.busy_until["stuck"] = float("inf")  # busy for good: fails after busy_timeout
    sandbox.faults = Faults(drop_rate=1.0, limit=2, endpoints=frozenset({"voice/sendSip"}))
    work = [Call(callee=f"9321000000{i:02d}", account=f"a{i % 3}") for i in range(12)]
    work += [Call(callee="932100000099", account="stuck")]
    work += [Call(callee="932100000098", account="a0", app_id="wrong-app")]  # -1: failed
    progress = BatchProgress()
    async with traced(sandbox, telemetry) as client:
        async for _ in client.send_many(
            work,
            one_per_account=False,
            busy_delay=0.005,
            busy_timeout=0.2,
            progress=progress,
        ):
            pass
    assert progress.done == len(work)
    assert (progress.unknown, progress.busy > 0, progress.failed >= 2) == (2, True, True)
    assert outcome(telemetry, "placed") == progress.placed
    assert outcome(telemetry, "failed") == progress.failed
    assert outcome(telemetry, "unknown") == progress.unknown
    finally_busy = telemetry.total(OUTCOMES, {"laaffic.outcome": "failed", "laaffic.status": "-68"})
    assert outcome(telemetry, "busy_retried") + finally_busy == progress.busy
    assert telemetry.total(OUTCOMES, {"laaffic.status": "-1"}) == 1
    assert telemetry.total("laaffic.dial.in_flight") == 0
    [batch] = telemetry.spans("laaffic.send_many")
    assert dict(batch.attributes or {}) == {
        "laaffic.batch.concurrency": 50,
        "laaffic.batch.ordered": False,
        "laaffic.batch.read": progress.read,
        "laaffic.batch.placed": progress.placed,
        "laaffic.batch.failed": progress.failed,
        "laaffic.batch.unknown": progress.unknown,
        "laaffic.batch.busy": progress.busy,
        "laaffic.batch.cancelled": 0,
    }
    attempts = telemetry.spans("POST voice/sendSip")
    assert len(attempts) == sum(sandbox.state.requests.values())
    assert all(s.parent is not None and s.parent.span_id == batch.context.span_id for s in attempts)


async def test_a_batch_stopped_early_ends_its_span_and_its_attempts(telemetry: Telemetry) -> None:
    # Answers spread over ~0.3 s: when the first arrives, the others are still in the server.
    sandbox = Sandbox(faults=Faults(latency=0.01, jitter=0.3, seed=3))
    work = [Call(callee=f"9321000000{i:02d}", account=f"a{i}") for i in range(20)]
    async with traced(sandbox, telemetry) as client:
        async with client.batch(work, concurrency=5) as outcomes:
            async for _ in outcomes:
                break
        progress = outcomes.progress
    assert progress.cancelled >= 1
    [batch] = telemetry.spans("laaffic.send_many")
    attributes = dict(batch.attributes or {})
    assert attributes["laaffic.batch.cancelled"] == progress.cancelled
    assert attributes["laaffic.batch.placed"] == progress.placed
    cut = [s for s in telemetry.spans("POST voice/sendSip") if s.status.status_code.name == "ERROR"]
    # Cut off inside the exchange: an error span each (a call cut before its attempt has none).
    assert 1 <= len(cut) <= progress.cancelled
    assert {dict(s.attributes or {})["error.type"] for s in cut} <= {"CancelledError", "Cancelled"}
    assert telemetry.total("laaffic.dial.in_flight") == 0
    assert outcome(telemetry, "placed") == progress.placed


async def test_in_flight_dials_are_an_up_down_counter(telemetry: Telemetry) -> None:
    sandbox = Sandbox(faults=Faults(latency=0.2))
    async with traced(sandbox, telemetry) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.place, Call(callee="932111111111", account="a"))
        tg.start_soon(client.place, Call(callee="932111111112", account="b"))
        await eventually(lambda: sandbox.state.in_flight == 2)
        assert telemetry.total("laaffic.dial.in_flight") == 2
    assert telemetry.total("laaffic.dial.in_flight") == 0
    assert outcome(telemetry, "placed") == 2


async def test_rate_limiter_waits_are_measured(telemetry: Telemetry) -> None:
    sandbox = Sandbox()
    async with traced(sandbox, telemetry, calls_per_second=50) as client:
        for i in range(3):
            await client.send_sip(f"93211111111{i}", account=f"a{i}")
        calls = [Call(callee=f"93211111112{i}", account=f"b{i}") for i in range(3)]
        async for _ in client.send_many(calls, calls_per_second=100):
            pass
    [own] = [
        p
        for p in telemetry.points("laaffic.rate_limiter.wait")
        if p.attributes["laaffic.limiter"] == "batch"
    ]
    [shared] = [
        p
        for p in telemetry.points("laaffic.rate_limiter.wait")
        if p.attributes["laaffic.limiter"] == "client"
    ]
    assert (own.count, shared.count) == (3, 6)  # the batch's calls pass the client's limit too
    assert 0 < shared.sum < 10  # two of the first three waited ~20 ms for their slot


@pytest.mark.parametrize("entered", [True, False], ids=["streaming", "rounds"])
async def test_records_export_is_a_span_with_its_counts(
    telemetry: Telemetry, entered: bool
) -> None:
    sandbox = Sandbox()
    now = datetime.now(UTC)
    start = now - timedelta(days=40)
    seed_records(sandbox, 230, start, now - timedelta(minutes=1))
    client = traced(sandbox, telemetry)
    sandbox.faults = Faults(error_rate=1.0, limit=1, endpoints=frozenset({"voice/recordSipQuery"}))
    stream = client.records(start, now, page_size=50)
    if entered:  # pages come from workers in the client's task group
        async with client:
            records = [record async for record in stream]
    else:  # pages are fetched in rounds from the iteration itself
        records = [record async for record in stream]
        await client.aclose()
    assert len(records) == 230
    [span] = telemetry.spans("laaffic.records")
    assert dict(span.attributes or {}) == {
        "laaffic.records.slices": 2,
        "laaffic.records.page_size": 50,
        "laaffic.records.concurrency": 4,
        "laaffic.records.records": 230,
        "laaffic.records.requests": stream.progress.requests,
        "laaffic.records.total": stream.progress.total,
        "laaffic.records.slices_done": 2,
        "laaffic.records.seconds_read": stream.progress.seconds_read,
    }
    assert telemetry.total("laaffic.records.exported") == 230
    pages = telemetry.spans("POST voice/recordSipQuery")
    assert (
        len(pages) == sandbox.state.requests["voice/recordSipQuery"] == stream.progress.requests + 1
    )
    assert all(s.parent is not None and s.parent.span_id == span.context.span_id for s in pages)
    assert sum(1 for s in pages if (s.attributes or {}).get("laaffic.retry_reason")) == 1


async def test_an_export_that_fails_ends_its_span_with_the_error(telemetry: Telemetry) -> None:
    sandbox = Sandbox()
    now = datetime.now(UTC)
    seed_records(sandbox, 20, now - timedelta(days=1), now - timedelta(minutes=1))
    async with traced(sandbox, telemetry) as client:
        sandbox.faults = Faults(error_rate=1.0, endpoints=frozenset({"voice/recordSipQuery"}))
        with pytest.raises(Exception, match="500"):
            async for _ in client.records(now - timedelta(days=1), now):
                pass
    [span] = telemetry.spans("laaffic.records")
    assert dict(span.attributes or {})["error.type"] == "HttpStatusError"
    assert span.status.status_code.name == "ERROR"


async def test_pushes_are_counted_and_each_handler_call_is_a_span(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    handler = Collector(fail_first=1)
    app = PushReceiver(
        handler,
        spool=tmp_path / "pushes.sqlite3",
        retry_base_delay=0.001,
        retry_max_delay=0.005,
        **telemetry.providers,
    )
    async with app:
        for n in range(3):
            assert await post_json(app, voice_report(n)) == 200
        assert await post_json(app, voice_report(0)) == 200  # a redelivery
        answer = await call(app, b"not json")
        assert answer is not None
        assert answer.status == 400
        await handler.wait_for(3)
        await eventually(lambda: app.stats().backlog == 0)
    stats = app.stats()
    assert telemetry.total("laaffic.push.received") == stats.received == 3
    assert telemetry.total("laaffic.push.received", {"laaffic.push.type": "VoiceReport"}) == 3
    assert telemetry.total("laaffic.push.duplicates") == stats.duplicates == 1
    assert telemetry.total("laaffic.push.rejected", {"http.response.status_code": 400}) == 1
    assert telemetry.total("laaffic.push.handled") == stats.handled == 3
    assert telemetry.total("laaffic.push.handler_failures") == stats.retried == 3
    spans = telemetry.spans("laaffic.push.handle")
    assert len(spans) == 6
    failed = [s for s in spans if s.status.status_code.name == "ERROR"]
    assert [dict(s.attributes or {})["laaffic.push.attempt"] for s in failed] == [1, 1, 1]
    assert {dict(s.attributes or {})["error.type"] for s in failed} == {"RuntimeError"}
    assert {dict(s.attributes or {})["laaffic.push.type"] for s in spans} == {"VoiceReport"}


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_pushes_over_a_real_socket(telemetry: Telemetry) -> None:
    handler = Collector()
    app = PushReceiver(handler, spool=None, **telemetry.providers)
    with serve_in_thread(app, prefix="") as url:  # uvicorn runs the lifespan: the app is started
        async with httpx.AsyncClient() as http:
            for n in range(2):
                answer = await http.post(url + "/", json=voice_report(n))
                assert answer.status_code == 200
            await eventually(lambda: app.stats().handled == 2)
    assert telemetry.total("laaffic.push.received") == 2
    assert telemetry.total("laaffic.push.handled") == 2
    assert len(telemetry.spans("laaffic.push.handle")) == 2


def test_the_readme_snippet_runs_and_prints_spans_and_metrics(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Observability", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "observability.py"
    script.write_text(snippet)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for name in (
        '"name": "POST voice/sendSip"',
        '"name": "laaffic.send_many"',
        '"name": "http.client.request.duration"',
        '"name": "laaffic.dial.outcomes"',
    ):
        assert name in result.stdout, name
