"""End to end over real sockets: the sandbox pushes, a served PushReceiver takes them.

The receiver runs in uvicorn's thread (its own asyncio loop); the sandbox,
the client placing calls and the pusher run on the test's backend.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from laaffic_async import AgentRinging, AsyncClient, CallCenterRecord, PushEvent, VoiceReport
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Pusher,
    Sandbox,
    SandboxTransport,
    serve_in_thread,
)
from laaffic_async.webhooks import PushReceiver

from .webhook_helpers import Collector, eventually, voice_report

pytestmark = pytest.mark.anyio


class ThreadSafeCollector:
    """A handler for a receiver running in another thread's event loop."""

    def __init__(self) -> None:
        self.events: list[PushEvent] = []
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def __call__(self, event: PushEvent) -> None:
        with self.lock:
            self.calls[event.key] += 1
            self.events.append(event)

    def __len__(self) -> int:
        with self.lock:
            return len(self.events)


def client_for(sandbox: Sandbox) -> AsyncClient:
    return AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
    )


async def test_a_thousand_calls_pushed_three_times_each_reach_the_handler_once(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox()
    handler = ThreadSafeCollector()
    receiver = PushReceiver(handler, spool=tmp_path / "pushes.sqlite3", path_token="t0k")
    placed: list[str] = []
    with serve_in_thread(receiver, prefix="/t0k") as url:
        async with Pusher(url, copies=3, retry_delay=0.01, concurrency=8) as pusher:
            pusher.attach(sandbox)
            async with client_for(sandbox) as client:
                limiter = anyio.CapacityLimiter(32)

                async def dial(n: int) -> None:
                    async with limiter:
                        call = await client.send_sip(f"9321{n:08d}", account=f"acct-{n % 50}")
                    placed.append(call.voice_id)

                async with anyio.create_task_group() as tg:
                    for n in range(1000):
                        tg.start_soon(dial, n)
            with anyio.fail_after(120):
                await pusher.join()
        await eventually(lambda: receiver.stats().handled == 1000, limit=60)
        await eventually(lambda: receiver.stats().backlog == 0)
        stats = receiver.stats()
    assert pusher.delivered == 3000
    assert not pusher.failed
    assert pusher.statuses == {200: 3000}
    assert len(handler) == 1000
    assert sorted(handler.calls.values()) == [1] * 1000
    assert {e.voice_id for e in handler.events if isinstance(e, VoiceReport)} == set(placed)
    assert (stats.received, stats.duplicates, stats.rejected) == (1000, 2000, 0)


async def test_pushed_reports_match_the_sandbox_records(tmp_path: Path) -> None:
    sandbox = Sandbox()
    handler = ThreadSafeCollector()
    receiver = PushReceiver(handler, spool=None)
    with serve_in_thread(receiver, prefix="/") as url:
        async with Pusher(url, retry_delay=0.01) as pusher:
            pusher.attach(sandbox)
            async with client_for(sandbox) as client:
                call = await client.send_sip("932111111111", account="a1", called_info="ref-9")
            pusher.push_call_center_record(call_session_id="CS-1", call_id=call.voice_id)
            pusher.push_agent_ringing(call.voice_id, ["8001", "8002", "8003"])
            with anyio.fail_after(30):
                await pusher.join()
        await eventually(lambda: len(handler) == 5)
    row = sandbox.state.records.get(call.voice_id)
    assert row is not None
    [report] = [e for e in handler.events if isinstance(e, VoiceReport)]
    assert report.voice_id == call.voice_id
    assert report.callee == "932111111111"
    assert report.called_info == "ref-9"
    assert report.submit_time == datetime.fromisoformat(row["submitTime"]).astimezone(UTC)
    assert report.submit_time is not None
    assert report.submit_time.tzinfo is UTC
    assert report.cost == Decimal(row["cost"])
    [record] = [e for e in handler.events if isinstance(e, CallCenterRecord)]
    assert (record.call_session_id, record.call_id) == ("CS-1", call.voice_id)
    ringing = sorted(
        (e for e in handler.events if isinstance(e, AgentRinging)), key=lambda e: e.sip_account
    )
    assert [e.sip_account for e in ringing] == ["8001", "8002", "8003"]
    assert ringing[2].no_answer_sip_list == ("8001", "8002")
    assert ringing[1].callin_event_time > ringing[0].callin_event_time


def starlette_app(receiver: PushReceiver, *, with_lifespan: bool) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with receiver:  # mounted apps get no lifespan of their own
            yield

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("home")

    return Starlette(
        routes=[Route("/", home), Mount("/hooks", app=receiver)],
        lifespan=lifespan if with_lifespan else None,
    )


async def test_mounted_in_starlette_with_its_lifespan(tmp_path: Path) -> None:
    handler = ThreadSafeCollector()
    receiver = PushReceiver(handler, spool=tmp_path / "p.sqlite3", path_token="s3cret")
    app = starlette_app(receiver, with_lifespan=True)
    with serve_in_thread(app, prefix="") as root:
        async with httpx.AsyncClient(base_url=root) as http:
            assert (await http.get("/")).text == "home"
            assert receiver.running
            for n in range(3):
                for _copy in range(2):
                    answer = await http.post("/hooks/s3cret", json=voice_report(n))
                    assert answer.status_code == 200
            assert (await http.post("/hooks/wrong", json=voice_report(9))).status_code == 404
            assert (await http.get("/hooks/s3cret")).status_code == 405
            assert (await http.post("/hooks/s3cret", content=b"{oops")).status_code == 400
            await eventually(lambda: len(handler) == 3)
    assert not receiver.running
    assert sorted(handler.calls.values()) == [1, 1, 1]


async def test_mounted_in_starlette_without_a_lifespan(tmp_path: Path) -> None:
    handler = Collector()
    receiver = PushReceiver(handler, spool=tmp_path / "p.sqlite3")
    app = starlette_app(receiver, with_lifespan=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        assert (await http.post("/hooks/", json=voice_report(1))).status_code == 200
        assert (await http.post("/hooks/", json=voice_report(1))).status_code == 200
        assert (await http.post("/hooks/", json=voice_report(2))).status_code == 200
    await handler.wait_for(2)
    assert not receiver.running
    assert sorted(handler.calls.values()) == [1, 1]
    await receiver.aclose()
