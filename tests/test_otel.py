"""OpenTelemetry on every API attempt: one client span each, HTTP semantic conventions,
retries as separate spans, the W3C trace context on the wire, nothing secret exported.

Runs over the production path: in-process (SandboxTransport) and over a real socket with the
default pooled backend, on asyncio and trio, and with aiohttp (the fast extra) on asyncio.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from laaffic_async import AsyncClient, OutcomeUnknownError, RetryPolicy
from laaffic_async.testing import Faults, SandboxTransport, serve_in_thread

from .batch_support import APP, KEY, SECRET
from .callcenter_support import new_group
from .otel_support import HeaderSandbox, Telemetry, all_attribute_values

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
# (event loop, path): in-process and the default pooled socket on both loops, aiohttp on asyncio.
paths = pytest.mark.parametrize(
    ("anyio_backend", "path"),
    [
        ("asyncio", "in-process"),
        ("trio", "in-process"),
        ("asyncio", "pooled"),
        ("trio", "pooled"),
        ("asyncio", "aiohttp"),
    ],
)
SEND_SIP = "POST voice/sendSip"
DURATION = "http.client.request.duration"


@asynccontextmanager
async def traced_client(
    sandbox: HeaderSandbox, path: str, otel: Telemetry, **kwargs: Any
) -> AsyncIterator[AsyncClient]:
    """A client over ``path`` that reports to ``otel``'s providers."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.update(otel.providers)
    if path == "in-process":
        client = AsyncClient(
            KEY,
            SECRET,
            app_id=APP,
            base_url="http://sandbox/v3",
            transport=SandboxTransport(sandbox),
            **kwargs,
        )
        async with client:
            yield client
        return
    kwargs["http_backend"] = path
    with serve_in_thread(sandbox) as url:
        async with AsyncClient(KEY, SECRET, app_id=APP, base_url=url, **kwargs) as client:
            yield client


def where(client: AsyncClient) -> tuple[str, int]:
    parts = urlsplit(client.base_url)
    return parts.hostname or "", parts.port or 80


@paths
async def test_one_client_span_per_attempt_with_the_http_conventions(
    path: str, telemetry: Telemetry
) -> None:
    sandbox = HeaderSandbox()
    async with traced_client(sandbox, path, telemetry) as client:
        await client.send_sip("932111111111", account="a")
        host, port = where(client)
    [span] = telemetry.spans()
    assert span.name == SEND_SIP
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": host,
        "server.port": port,
        "url.scheme": "http",
        "url.full": f"{client.base_url}voice/sendSip",
        "laaffic.endpoint": "voice/sendSip",
        "laaffic.attempt": 1,
        "http.response.status_code": 200,
        "laaffic.status": "0",
    }
    [point] = telemetry.points(DURATION)
    assert point.count == 1
    assert 0 < point.sum < 30
    assert dict(point.attributes) == {
        "http.request.method": "POST",
        "server.address": host,
        "server.port": port,
        "url.scheme": "http",
        "laaffic.endpoint": "voice/sendSip",
        "http.response.status_code": 200,
        "laaffic.status": "0",
    }
    assert telemetry.total("laaffic.dial.outcomes", {"laaffic.outcome": "placed"}) == 1
    # The trace context went out with the request, naming this very span.
    context = span.context
    assert context is not None
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert sandbox.headers[0]["traceparent"] == expected
    assert context.trace_flags.sampled


@paths
async def test_retries_are_separate_spans(path: str, telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    now = datetime.now(UTC)
    async with traced_client(sandbox, path, telemetry) as client:
        sandbox.faults = Faults(error_rate=1.0, limit=2)
        await client.record_page(now - timedelta(hours=1), now)
    spans = telemetry.spans()
    assert [s.name for s in spans] == ["POST voice/recordSipQuery"] * 3
    first, second, third = (dict(s.attributes or {}) for s in spans)
    for number, attributes in enumerate((first, second), start=1):
        assert attributes["laaffic.attempt"] == number
        assert attributes["http.response.status_code"] == 500
        assert attributes["error.type"] == "500"
        assert attributes["laaffic.retry_reason"] == "http_status"
    assert spans[0].status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first
    assert (second["http.request.resend_count"], third["http.request.resend_count"]) == (1, 2)
    assert (third["http.response.status_code"], third["laaffic.status"]) == (200, "0")
    assert "error.type" not in third
    assert "laaffic.retry_reason" not in third
    assert telemetry.total(DURATION, {"error.type": "500"}) == 2
    assert telemetry.total(DURATION, {"http.response.status_code": 200}) == 1
    # Each attempt carried its own span's trace context.
    sent = [h["traceparent"].split("-")[2] for h in sandbox.headers]
    assert sent == [f"{s.context.span_id:016x}" for s in spans if s.context is not None]
    assert len(sent) == 3


async def test_a_refused_connection_is_a_retried_transport_span(telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    async with traced_client(sandbox, "in-process", telemetry) as client:
        sandbox.faults = Faults(refuse_connections=1)
        await client.send_sip("932111111111", account="a")
    refused, placed = telemetry.spans()
    attributes = dict(refused.attributes or {})
    assert attributes["error.type"] == "ConnectError"
    assert attributes["laaffic.retry_reason"] == "transport"
    assert "http.response.status_code" not in attributes
    assert dict(placed.attributes or {})["laaffic.attempt"] == 2
    assert telemetry.total("laaffic.dial.outcomes", {"laaffic.outcome": "placed"}) == 1


@paths
async def test_a_lost_answer_is_one_span_and_an_unknown_outcome(
    path: str, telemetry: Telemetry
) -> None:
    sandbox = HeaderSandbox()
    async with traced_client(sandbox, path, telemetry) as client:
        sandbox.faults = Faults(drop_rate=1.0)
        with pytest.raises(OutcomeUnknownError):
            await client.send_sip("932111111111", account="a")
    [span] = telemetry.spans()
    attributes = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.ERROR
    assert "laaffic.retry_reason" not in attributes  # a dial is never re-sent
    assert attributes["error.type"]  # the transport's exception class
    assert telemetry.total("laaffic.dial.outcomes", {"laaffic.outcome": "unknown"}) == 1
    assert telemetry.total("laaffic.dial.in_flight") == 0


async def test_an_api_refusal_names_its_status_and_class(telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    sandbox.state.call_seconds = 3600
    async with traced_client(sandbox, "in-process", telemetry) as client:
        await client.send_sip("932111111111", account="a")
        with pytest.raises(Exception, match="-68"):
            await client.send_sip("932111111112", account="a")
    busy = dict(telemetry.spans()[-1].attributes or {})
    assert (busy["laaffic.status"], busy["error.type"]) == ("-68", "SipBusyError")
    failed = {"laaffic.outcome": "failed", "laaffic.status": "-68", "error.type": "SipBusyError"}
    assert telemetry.total("laaffic.dial.outcomes", failed) == 1


async def test_the_caller_span_is_the_parent(telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    tracer = telemetry.tracer_provider.get_tracer("the application")
    async with traced_client(sandbox, "in-process", telemetry) as client:
        with tracer.start_as_current_span("handle order") as parent:
            await client.send_sip("932111111111", account="a")
    attempt = telemetry.spans(SEND_SIP)[0]
    assert attempt.parent is not None
    assert attempt.parent.span_id == parent.get_span_context().span_id
    assert attempt.context.trace_id == parent.get_span_context().trace_id


async def test_path_parameters_stay_out_of_names_and_metrics(telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    async with traced_client(sandbox, "in-process", telemetry) as client:
        placed = await client.send_sip("932111111111", account="a")
        await client.record(placed.voice_id)
    span = telemetry.spans()[-1]
    assert span.name == "GET voice/recordSip/{voiceId}"
    url = dict(span.attributes or {})["url.full"]
    assert url == f"{client.base_url}voice/recordSip/{placed.voice_id}"
    endpoints = {p.attributes["laaffic.endpoint"] for p in telemetry.points(DURATION)}
    assert endpoints == {"voice/sendSip", "voice/recordSip/{voiceId}"}


async def test_telemetry_false_records_nothing(telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    async with traced_client(sandbox, "in-process", telemetry, telemetry=False) as client:
        await client.send_sip("932111111111", account="a")
    assert telemetry.spans() == []
    assert telemetry.points(DURATION) == []
    assert "traceparent" not in sandbox.headers[0]


@pytest.mark.parametrize(("anyio_backend", "path"), [("asyncio", "in-process"), ("trio", "pooled")])
async def test_nothing_secret_is_exported(path: str, telemetry: Telemetry, tmp_path: Path) -> None:
    """Drive calls that handle every secret, then scan every exported string for them."""
    sandbox = HeaderSandbox()
    now = datetime.now(UTC)
    async with traced_client(sandbox, path, telemetry) as client:
        record = None
        for i in range(20):  # a call the sandbox answered, so it has a recording
            placed = await client.send_sip(f"9321111111{i:02d}", account=f"a{i}")
            record = await client.record(placed.voice_id)
            if record.recording_file_id:
                break
        assert record is not None
        assert record.recording_file_id
        link = await client.recording_url(record.recording_file_id)
        await client.download_recording(record.recording_file_id, tmp_path / "r.wav")
        group_id = await new_group(client)
        await client.call_center.add_agents(group_id, 2)
        await client.call_center.agent_page()
        sandbox.faults = Faults(error_rate=1.0, limit=1)
        await client.record_page(now - timedelta(hours=1), now + timedelta(hours=1))
    link_query = urlsplit(link.url).query
    assert link_query, "the sandbox's links are pre-signed with a query"
    passwords = [agent["password"] for agent in sandbox.state.call_center.agents]
    assert len(passwords) == 2
    secrets = [SECRET, link_query, *passwords]
    signs = {h["sign"] for h in sandbox.headers if "sign" in h}
    assert len(signs) >= 1
    texts = all_attribute_values(telemetry)
    assert any(t.startswith("url.full=") for t in texts)
    assert any(t == "GET recording download" for t in texts)
    for text in texts:
        for secret in [*secrets, *signs]:
            assert secret not in text, text
        assert not re.search(r"\b[0-9a-f]{32}\b", text), text  # nothing shaped like a Sign
        if text.startswith("url.full="):
            assert "?" not in text, text
            assert "@" not in text, text


async def test_user_info_in_the_base_url_is_not_exported(telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    client = AsyncClient(
        KEY,
        SECRET,
        app_id=APP,
        base_url="http://proxyuser:hunter2@sandbox/v3",
        transport=SandboxTransport(sandbox),
        **telemetry.providers,
    )
    async with client:
        await client.send_sip("932111111111", account="a")
    [span] = telemetry.spans()
    assert dict(span.attributes or {})["url.full"] == "http://sandbox/v3/voice/sendSip"
    assert not [text for text in all_attribute_values(telemetry) if "hunter2" in text]


async def test_a_refused_timestamp_is_a_span_then_a_resigned_attempt(telemetry: Telemetry) -> None:
    sandbox = HeaderSandbox()
    sandbox.state.clock = lambda: time.time() + 3600  # the server is an hour ahead: -16 first
    async with traced_client(sandbox, "in-process", telemetry) as client:
        await client.send_sip("932111111111", account="a")
    refused, placed = (dict(s.attributes or {}) for s in telemetry.spans())
    assert (refused["laaffic.status"], refused["error.type"]) == ("-16", "TimestampExpiredError")
    assert refused["laaffic.retry_reason"] == "timestamp_expired"
    assert (placed["laaffic.attempt"], placed["laaffic.status"]) == (2, "0")
    assert sandbox.headers[0]["traceparent"] != sandbox.headers[1]["traceparent"]


async def test_a_download_is_a_client_span_without_api_status(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    sandbox = HeaderSandbox()
    async with traced_client(sandbox, "in-process", telemetry) as client:
        for i in range(20):  # a call the sandbox answered, so it has a recording
            placed = await client.send_sip(f"9321111111{i:02d}", account=f"a{i}")
            file_id = (await client.record(placed.voice_id)).recording_file_id
            if file_id:
                break
        assert file_id
        await client.download_recording(file_id, tmp_path / "r.wav")
    [span] = telemetry.spans("GET recording download")
    attributes = dict(span.attributes or {})
    assert span.kind is SpanKind.CLIENT
    assert attributes["http.response.status_code"] == 200
    assert "laaffic.status" not in attributes
    assert "?" not in str(attributes["url.full"])
    assert "traceparent" not in sandbox.headers[-1]  # nothing extra sent to the link's host
