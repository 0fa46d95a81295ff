"""A FastAPI service with the push receiver mounted and one shared client.

Run it::

    pip install fastapi uvicorn
    uvicorn examples.fastapi_app:app --port 8000
    # console push URL: https://your.host/hooks/<PUSH_TOKEN>

``python examples/fastapi_app.py --selftest`` drives the app in-process: the
sandbox places a call, its push arrives twice, the handler sees it once.

Mounted apps get no lifespan of their own in Starlette/FastAPI, so the
parent's lifespan starts the receiver (``async with receiver``) and the
shared :class:`AsyncClient` (one pool for every request handler).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from fastapi import FastAPI, Request

from laaffic_async import AsyncClient, PushEvent, VoiceReport
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Pusher,
    Sandbox,
    SandboxTransport,
)
from laaffic_async.webhooks import PushReceiver

TOKEN = os.environ.get("PUSH_TOKEN", "change-me-to-a-long-random-string")
SANDBOX = Sandbox()  # used only when no credentials are set
reports: list[VoiceReport] = []


async def on_push(event: PushEvent) -> None:
    if isinstance(event, VoiceReport):
        reports.append(event)


# The self-test keeps its spool in memory; a service keeps it on disk so restarts lose nothing.
SPOOL = None if "--selftest" in sys.argv else os.environ.get("PUSH_SPOOL", "pushes.sqlite3")
receiver = PushReceiver(on_push, spool=SPOOL)


def make_client() -> AsyncClient:
    if os.environ.get("LAAFFIC_API_KEY"):
        return AsyncClient()
    return AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(SANDBOX),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with receiver, make_client() as client:
        app.state.client = client
        yield


app = FastAPI(lifespan=lifespan)
app.mount(f"/hooks/{TOKEN}", receiver)


@app.post("/calls/{callee}")
async def place_call(callee: str, account: str, request: Request) -> dict[str, str]:
    client: AsyncClient = request.app.state.client
    placed = await client.send_sip(callee, account=account)
    return {"voiceId": placed.voice_id}


@app.get("/reports")
async def list_reports() -> list[dict[str, Any]]:
    return [{"voiceId": r.voice_id, "callee": r.callee} for r in reports]


async def selftest() -> None:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://app") as http,
    ):
        placed = (await http.post("/calls/932111111111", params={"account": "a1"})).json()
        async with Pusher(f"http://app/hooks/{TOKEN}/", copies=2, transport=transport) as pusher:
            pusher.push_voice_report(SANDBOX.state.records.get(placed["voiceId"]) or {})
            await pusher.join()
        for _ in range(100):
            if reports:
                break
            await anyio.sleep(0.05)
        listed = (await http.get("/reports")).json()
    assert listed == [{"voiceId": placed["voiceId"], "callee": "932111111111"}], listed
    print(f"ok: call {placed['voiceId']} placed, its push delivered once ({receiver.stats()})")


if __name__ == "__main__":
    if "--selftest" in sys.argv:
        anyio.run(selftest)
    else:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=8000)
