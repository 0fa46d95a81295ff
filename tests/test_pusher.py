"""The sandbox's pusher: the platform's push bodies, headers and retry behaviour."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

import anyio
import httpx
import pytest

from laaffic_async import AsyncClient
from laaffic_async.testing import (
    PLATFORM_TZ,
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Pusher,
    PushJob,
    Sandbox,
    SandboxTransport,
)
from laaffic_async.webhooks import PushReceiver

from .webhook_helpers import Collector

pytestmark = pytest.mark.anyio

Message = MutableMapping[str, Any]


class ScriptedEndpoint:
    """An ASGI app answering pushes with scripted statuses (then 200), recording each."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def pusher_for(app: Any, **kwargs: Any) -> Pusher:
    return Pusher("http://receiver/push", transport=httpx.ASGITransport(app=app), **kwargs)


async def test_a_push_answered_200_is_sent_once_with_the_platform_headers() -> None:
    endpoint = ScriptedEndpoint()
    async with pusher_for(endpoint) as pusher:
        body = pusher.push_call_center_record(call_session_id="CS-1")
        await pusher.join()
    [(headers, sent)] = endpoint.requests
    assert json.loads(sent) == body
    assert headers["content-type"] == "application/json;charset=UTF-8"
    assert headers["user-agent"].startswith("Apache-HttpClient")
    assert (pusher.sent, pusher.delivered, pusher.failed) == (1, 1, [])


async def test_non_200_answers_are_retried_up_to_three_times() -> None:
    endpoint = ScriptedEndpoint(500, 503, 404)
    async with pusher_for(endpoint, retry_delay=0.001) as pusher:
        pusher.push_agent_ringing("c-1", ["8001"])
        await pusher.join()
    assert pusher.statuses == {500: 1, 503: 1, 404: 1, 200: 1}
    assert (pusher.sent, pusher.delivered, pusher.failed) == (4, 1, [])
    assert len({body for _, body in endpoint.requests}) == 1  # the same body each time


async def test_a_push_never_answered_200_is_given_up_after_the_retries() -> None:
    endpoint = ScriptedEndpoint(*[500] * 10)
    async with pusher_for(endpoint, retry_delay=0.001, retries=3) as pusher:
        pusher.push("raw", {"voiceId": "1"})
        await pusher.join()
    assert pusher.sent == 4
    assert pusher.failed == [PushJob("raw", b'{"voiceId": "1"}')]


class Refusing(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


async def test_transport_errors_count_as_failed_attempts() -> None:
    refusing = Pusher("http://receiver/push", transport=Refusing(), retry_delay=0.001, retries=2)
    async with refusing as pusher:
        pusher.push("raw", b"{}")
        await pusher.join()
    assert pusher.statuses == {None: 3}
    assert len(pusher.failed) == 1


async def test_copies_emulate_redeliveries() -> None:
    endpoint = ScriptedEndpoint()
    async with pusher_for(endpoint, copies=3) as pusher:
        pusher.push("raw", {"voiceId": "1"})
        pusher.push("raw", {"voiceId": "2"})
        await pusher.join()
    assert (
        sorted(body for _, body in endpoint.requests)
        == [b'{"voiceId": "1"}'] * 3 + [b'{"voiceId": "2"}'] * 3
    )
    assert pusher.delivered == 6


async def test_documented_retry_delays() -> None:
    from laaffic_async.testing._pusher import RETRY_DELAYS

    assert RETRY_DELAYS["agent_ringing"] == 0  # "we will retry immediately"
    assert RETRY_DELAYS["call_center_record"] == 30 * 60  # "every 30 minutes"


async def test_attached_sandbox_pushes_a_report_per_placed_call() -> None:
    sandbox = Sandbox()
    endpoint = ScriptedEndpoint()
    async with (
        pusher_for(endpoint) as pusher,
        AsyncClient(
            SAMPLE_API_KEY,
            SAMPLE_API_SECRET,
            app_id=SAMPLE_APP_ID,
            base_url="http://sandbox/v3",
            transport=SandboxTransport(sandbox),
        ) as client,
    ):
        pusher.attach(sandbox)
        placed = [await client.send_sip(f"93211111111{n}", account=f"a{n}") for n in range(3)]
        await pusher.join()
    reports = [json.loads(body) for _, body in endpoint.requests]
    assert sorted(r["voiceId"] for r in reports) == sorted(p.voice_id for p in placed)
    for report in reports:
        row = sandbox.state.records.get(report["voiceId"])
        assert row is not None
        submitted = datetime.fromisoformat(row["submitTime"])
        assert report["submitTime"] == int(submitted.timestamp()) * 1000
        assert report["callee"] == row["callee"]
        assert report["cost"] == row["cost"]
        if not row["answerTime"]:
            assert report["answerTime"] is None


async def test_pusher_into_a_receiver_in_process() -> None:
    handler = Collector()
    receiver = PushReceiver(handler, spool=None)
    async with receiver, pusher_for(receiver, copies=2) as pusher:
        pusher.push_agent_ringing(
            "c-9", ["8001", "8002"], started=datetime(2025, 1, 2, 3, 4, 5, tzinfo=PLATFORM_TZ)
        )
        await pusher.join()
        await handler.wait_for(2)
    assert pusher.delivered == 2
    assert receiver.stats().duplicates == 2
    assert sorted(handler.calls.values()) == [1, 1]


async def test_pushes_from_another_thread_are_picked_up() -> None:
    endpoint = ScriptedEndpoint()
    async with pusher_for(endpoint) as pusher:
        await anyio.to_thread.run_sync(lambda: pusher.push("raw", {"from": "thread"}))
        with anyio.fail_after(30):
            await pusher.join()
    assert [body for _, body in endpoint.requests] == [b'{"from": "thread"}']


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="retries"):
        Pusher("http://x", retries=-1)
    with pytest.raises(ValueError, match="copies"):
        Pusher("http://x", copies=0)
