"""Receive the platform's pushes (call reports, call-center records, agent ringing).

Usage::

    python examples/push_receiver.py            # serve on 127.0.0.1:8000 until Ctrl-C
    python examples/push_receiver.py --demo     # the sandbox places calls and pushes to it

Set the console's push URL to your public address plus ``/<PUSH_TOKEN>``
(behind your TLS-terminating proxy).  Acknowledged pushes wait in
``pushes.sqlite3`` until ``on_push`` returns, so a restart loses nothing.
"""

from __future__ import annotations

import os
import sys

import anyio

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

TOKEN = os.environ.get("PUSH_TOKEN", "change-me-to-a-long-random-string")


async def on_push(event: PushEvent) -> None:
    """Your business logic; raising here means "try again later", never "lost"."""
    match event:
        case VoiceReport():
            print(f"call {event.voice_id} ended: {event.call_duration}s, cost {event.cost}")
        case CallCenterRecord():
            print(f"call-center call {event.call_session_id} by agent {event.agent_account}")
        case AgentRinging():
            print(f"agent {event.sip_account} is ringing for call {event.call_id}")
        case _:
            print(f"unknown push: {event.data!r}")


app = PushReceiver(on_push, spool="pushes.sqlite3", path_token=TOKEN)


async def demo() -> None:
    sandbox = Sandbox()
    with serve_in_thread(app, prefix=f"/{TOKEN}") as url:
        # copies=2: every push arrives twice, as the platform's retries do; on_push sees it once.
        async with Pusher(url, copies=2, retry_delay=0.5) as pusher:
            pusher.attach(sandbox)
            async with AsyncClient(
                SAMPLE_API_KEY,
                SAMPLE_API_SECRET,
                app_id=SAMPLE_APP_ID,
                base_url="http://sandbox/v3",
                transport=SandboxTransport(sandbox),
            ) as client:
                for n in range(3):
                    await client.send_sip(f"93211111111{n}", account=f"agent-{n}")
            pusher.push_agent_ringing("c-1", ["8001", "8002"])
            await pusher.join()
        await anyio.sleep(0.5)  # let the handlers print before the server stops
    print(app.stats())


if __name__ == "__main__":
    if "--demo" in sys.argv:
        anyio.run(demo)
    else:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=8000)
