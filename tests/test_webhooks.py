"""PushReceiver in-process on asyncio and trio: acknowledge, deliver, drop redeliveries, refuse."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from laaffic_async import (
    AgentRinging,
    CallCenterRecord,
    RequestValidationError,
    UnknownPush,
    VoiceReport,
)
from laaffic_async.webhooks import PushReceiver, PushStats

from .core.test_pushes import CALL_CENTER_BODY, RINGING_BODY, VOICE_REPORT_BODY
from .webhook_helpers import Collector, call, eventually, post_json, voice_report

pytestmark = pytest.mark.anyio

FAST = {"retry_base_delay": 0.001, "retry_max_delay": 0.005}


def receiver(handler: Collector, tmp_path: Path | None, **kwargs: Any) -> PushReceiver:
    spool = None if tmp_path is None else tmp_path / "pushes.sqlite3"
    return PushReceiver(handler, spool=spool, **{**FAST, **kwargs})


@pytest.mark.parametrize("durable", [True, False], ids=["sqlite", "memory"])
async def test_each_documented_push_is_acknowledged_and_delivered(
    tmp_path: Path, durable: bool
) -> None:
    handler = Collector()
    app = receiver(handler, tmp_path if durable else None)
    async with app:
        assert app.running
        assert await post_json(app, VOICE_REPORT_BODY) == 200
        assert await post_json(app, CALL_CENTER_BODY) == 200
        assert await post_json(app, RINGING_BODY) == 200
        assert await post_json(app, {"someday": "a new push"}) == 200
        await handler.wait_for(5)
    assert not app.running
    kinds = sorted(type(event).__name__ for event in handler.events)
    assert kinds == [
        "AgentRinging",
        "AgentRinging",
        "CallCenterRecord",
        "UnknownPush",
        "VoiceReport",
    ]
    [report] = [e for e in handler.events if isinstance(e, VoiceReport)]
    assert report.voice_id == VOICE_REPORT_BODY["voiceId"]
    [record] = [e for e in handler.events if isinstance(e, CallCenterRecord)]
    assert record.call_session_id == CALL_CENTER_BODY["callSessionId"]
    ringing = [e for e in handler.events if isinstance(e, AgentRinging)]
    assert {e.sip_account for e in ringing} == {"8001", "8002"}
    [unknown] = [e for e in handler.events if isinstance(e, UnknownPush)]
    assert unknown.data == {"someday": "a new push"}
    assert app.stats() == PushStats(
        received=5, duplicates=0, rejected=0, handled=5, retried=0, taken_over=0, backlog=0
    )


async def test_the_answer_is_200_json(tmp_path: Path) -> None:
    app = receiver(Collector(), tmp_path)
    async with app:
        answer = await call(app, b'{"voiceId": "1"}')
    assert answer is not None
    assert (answer.status, answer.headers["content-type"]) == (200, "application/json")
    assert answer.body == b'{"status":"0","reason":"success"}'


@pytest.mark.parametrize("durable", [True, False], ids=["sqlite", "memory"])
async def test_redeliveries_are_dropped_even_when_concurrent(tmp_path: Path, durable: bool) -> None:
    handler = Collector()
    app = receiver(handler, tmp_path if durable else None)
    statuses: list[int] = []

    async def deliver(n: int) -> None:
        statuses.append(await post_json(app, voice_report(n)))

    async with app:
        async with anyio.create_task_group() as tg:
            for _copy in range(3):
                for n in range(40):
                    tg.start_soon(deliver, n)
        await handler.wait_for(40)
        assert await post_json(app, voice_report(7)) == 200  # a late redelivery
        assert await post_json(app, RINGING_BODY) == 200
        assert await post_json(app, RINGING_BODY[::-1]) == 200  # same events, other order
        await handler.wait_for(42)
    assert statuses == [200] * 120
    assert sorted(handler.calls.values()) == [1] * 42
    stats = app.stats()
    assert (stats.received, stats.duplicates, stats.handled) == (42, 83, 42)


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"method": "GET", "body": b""}, 405),
        ({"method": "PUT"}, 405),
        ({"path": "/wrong-token"}, 404),
        ({"path": "/"}, 404),
        # A source outside allowed_ips gets a wrong token's answer, right token or not.
        ({"client": ("198.51.100.9", 1)}, 404),
        ({"client": ("198.51.100.9", 1), "path": "/wrong-token"}, 404),
        ({"client": None}, 404),
        ({"body": b"{not json"}, 400),
        ({"body": b"\xff\xfe\x00"}, 400),
        ({"body": b'{"voiceId": NaN}'}, 400),
        ({"body": b""}, 400),
        ({"headers": {"content-length": "2048"}}, 413),
        ({"headers": {"content-length": "12abc"}}, 400),
        ({"body": b'{"voiceId": "' + b"9" * 2000 + b'"}'}, 413),
        ({"body": [b'{"voiceId": "', b"9" * 1000, b"9" * 1000, b'"}']}, 413),  # chunked
    ],
)
async def test_bad_requests_get_a_4xx_and_no_handler_call(
    tmp_path: Path, request_kwargs: dict[str, Any], status: int
) -> None:
    handler = Collector()
    app = receiver(
        handler, tmp_path, path_token="tok3n", allowed_ips=["203.0.113.0/24"], max_body=1024
    )
    kwargs: dict[str, Any] = {"path": "/tok3n", "body": b'{"voiceId": "1"}'} | request_kwargs
    async with app:
        answer = await call(app, **kwargs)
        assert answer is not None
        assert answer.status == status
        assert await post_json(app, voice_report(1), path="/tok3n") == 200
        await handler.wait_for(1)
    if status == 405:
        assert answer.headers["allow"] == "POST"
    assert handler.keys == [f"voiceId:{voice_report(1)['voiceId']}"]
    assert app.stats().rejected == 1


async def test_mounted_path_token_and_forwarded_source(tmp_path: Path) -> None:
    handler = Collector()
    app = receiver(
        handler,
        tmp_path,
        path_token="tok3n",
        allowed_ips=["203.0.113.7"],
        trusted_proxy_header="X-Forwarded-For",
    )
    proxy = ("10.0.0.2", 5000)
    forwarded = {"x-forwarded-for": "192.0.2.1, 203.0.113.7"}
    async with app:
        ok = await post_json(
            app, voice_report(1), path="/hooks/tok3n", root_path="/hooks", client=proxy,
            headers=forwarded,
        )  # fmt: skip
        forged = await post_json(
            app, voice_report(2), path="/hooks/tok3n", root_path="/hooks", client=proxy,
            headers={"x-forwarded-for": "203.0.113.7, 192.0.2.1"},
        )  # fmt: skip
        await handler.wait_for(1)
    assert (ok, forged) == (200, 404)  # a wrong source gets a wrong token's answer


async def test_a_sender_that_disconnects_mid_body_gets_nothing_delivered(tmp_path: Path) -> None:
    handler = Collector()
    app = receiver(handler, tmp_path)
    async with app:
        assert await call(app, [b'{"voiceId": "1"}', b""], disconnect=True) is None
    assert handler.events == []
    assert app.stats().received == 0


async def test_handler_failures_are_logged_and_retried_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Collector(fail_first=2)
    app = receiver(handler, tmp_path)
    with caplog.at_level(logging.ERROR, logger="laaffic_async.webhooks"):
        async with app:
            for n in range(5):
                assert await post_json(app, voice_report(n)) == 200
            await handler.wait_for(5)
    assert sorted(handler.calls.values()) == [3] * 5
    assert len(handler.events) == 5
    stats = app.stats()
    assert (stats.handled, stats.retried, stats.backlog) == (5, 10, 0)
    failures = [r for r in caplog.records if "push handler failed" in r.getMessage()]
    assert len(failures) == 10
    assert all(r.exc_info is not None for r in failures)


async def test_handlers_run_at_most_concurrency_at_once(tmp_path: Path) -> None:
    handler = Collector(block=lambda event: True)
    app = receiver(handler, tmp_path, concurrency=3)
    async with app:
        for n in range(10):
            assert await post_json(app, voice_report(n)) == 200
        await handler.wait_for(3, calls=True)
        await anyio.sleep(0.05)  # give a fourth call every chance to start (it must not)
        assert handler.running == 3
        handler.release()
        await handler.wait_for(10)
    assert handler.peak_running == 3


async def test_the_lifespan_protocol_starts_and_stops_it(tmp_path: Path) -> None:
    handler = Collector()
    app = receiver(handler, tmp_path)
    to_app, app_inbox = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)
    app_outbox, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)
    scope: MutableMapping[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}}
    async with anyio.create_task_group() as tg:
        tg.start_soon(app, scope, app_inbox.receive, app_outbox.send)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        assert app.running
        assert await post_json(app, voice_report(1)) == 200
        await handler.wait_for(1)
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
    assert not app.running


async def test_a_spool_that_cannot_open_fails_the_lifespan_startup(tmp_path: Path) -> None:
    app = PushReceiver(Collector(), spool=tmp_path / "missing-dir" / "pushes.sqlite3")
    # Through the lifespan, the failure is a failed startup, not a crash.
    to_app, inbox = anyio.create_memory_object_stream[MutableMapping[str, Any]](2)
    outbox, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](2)
    await to_app.send({"type": "lifespan.startup"})
    await app({"type": "lifespan"}, inbox.receive, outbox.send)
    failed = await from_app.receive()
    assert failed["type"] == "lifespan.startup.failed"
    assert "unable to open" in failed["message"]
    assert not app.running


async def test_starting_twice_is_an_error(tmp_path: Path) -> None:
    app = receiver(Collector(), tmp_path)
    async with app:
        with pytest.raises(RuntimeError, match="already running"):
            await app.__aenter__()


async def test_an_unstarted_receiver_delivers_after_each_answer(tmp_path: Path) -> None:
    handler = Collector()
    app = receiver(handler, tmp_path)
    assert await post_json(app, voice_report(1)) == 200
    # Nobody started it: the request itself ran the handler after answering.
    assert len(handler.events) == 1
    assert not app.running
    assert await post_json(app, voice_report(1)) == 200
    assert len(handler.events) == 1
    await app.aclose()


async def test_an_unstarted_receiver_keeps_failed_events_for_the_next_push(
    tmp_path: Path,
) -> None:
    handler = Collector(fail_first=3)
    app = receiver(handler, tmp_path)
    assert await post_json(app, voice_report(1)) == 200
    assert handler.calls == {"voiceId:2203031113381000001": 3}
    assert handler.events == []
    assert app.stats().backlog == 1
    handler.fail_first = 0  # the handler's trouble is over
    assert await post_json(app, voice_report(2)) == 200  # the next push retries the first
    assert sorted(handler.keys) == ["voiceId:2203031113381000001", "voiceId:2203031113381000002"]
    await app.aclose()
    assert app.stats().retried == 3
    assert app.stats().backlog == 0


async def test_an_unwritable_spool_answers_503_so_the_platform_retries(tmp_path: Path) -> None:
    handler = Collector()
    app = PushReceiver(handler, spool=tmp_path / "missing-dir" / "pushes.sqlite3")
    assert await post_json(app, voice_report(1)) == 503
    assert handler.events == []
    with pytest.raises(Exception, match="unable to open"):
        async with app:
            pass  # pragma: no cover


async def test_websocket_connections_are_closed(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await receiver(Collector(), tmp_path)({"type": "websocket"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dedupe_window": timedelta(hours=1)}, "at least 2 hours"),
        ({"path_token": ""}, "path_token"),
        ({"path_token": "a/b"}, "path_token"),
        ({"max_body": 0}, "positive"),
        ({"concurrency": 0}, "positive"),
        ({"retry_base_delay": 0}, "retry_base_delay"),
        ({"allowed_ips": ["not an address"]}, "does not appear"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(RequestValidationError, match=match):
        PushReceiver(Collector(), spool=None, **kwargs)


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    app = PushReceiver(Collector(), spool=None, path_token="very-secret")
    assert "very-secret" not in repr(app)
    assert repr(app) == "PushReceiver(spool='memory', idle)"


async def test_stats_track_backlog_while_handlers_block(tmp_path: Path) -> None:
    handler = Collector(block=lambda event: True)
    app = receiver(handler, tmp_path)
    async with app:
        for n in range(4):
            await post_json(app, voice_report(n))
        await handler.wait_for(4, calls=True)
        assert app.stats().backlog == 4
        handler.release()
        await handler.wait_for(4)
        await eventually(lambda: app.stats().backlog == 0)
