"""AsyncClient(http_backend="aiohttp"): the fast extra's direct path, over a real socket.

With that backend the client sends its API calls straight through aiohttp instead of
through httpx's client layer, so every rule the httpx path keeps is checked here again:
exactly-once dials, ambiguous failures as unknown outcomes, retries only where nothing
ran, the clock re-sign on -16 (which reads the server's Date header), read-only paging,
and no socket left open. aiohttp has no trio support: on trio the client says so.
"""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from collections.abc import AsyncIterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from laaffic_async import (
    AsyncClient,
    BatchProgress,
    OutcomeUnknownError,
    RetryPolicy,
    TransportError,
)
from laaffic_async._aiohttp import AiohttpTransport, _decompressed
from laaffic_async.testing import Faults, Sandbox, SandboxState, seed_records, serve_in_thread

from .batch_support import APP, KEY, SECRET, assert_exactly_once, calls, client_sockets

pytestmark = pytest.mark.anyio
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)


def fast_client(url: str, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return AsyncClient(KEY, SECRET, app_id=APP, base_url=url, http_backend="aiohttp", **kwargs)


@pytest.fixture
async def fast(sandbox_url: str) -> AsyncIterator[AsyncClient]:
    async with fast_client(sandbox_url) as client:
        yield client


def test_the_fast_backend_uses_the_direct_path_only_without_a_caller_transport() -> None:
    direct = fast_client("http://127.0.0.1:1/v3")
    assert isinstance(direct._direct, AiohttpTransport)
    assert direct._http._transport is direct._direct  # downloads share the same pool
    mock = httpx.MockTransport(lambda request: httpx.Response(500))
    given = fast_client("http://127.0.0.1:1/v3", transport=mock)
    assert given._direct is None  # the caller's transport is the test seam: always used


@asyncio_only
async def test_2000_calls_placed_exactly_once(sandbox: Sandbox, sandbox_url: str) -> None:
    progress = BatchProgress()
    async with fast_client(sandbox_url) as client:
        batch = client.send_many(calls(2000, 200), concurrency=100, progress=progress)
        outcomes = [o async for o in batch]
    assert_exactly_once(sandbox, outcomes, 2000)
    assert sandbox.state.peak_in_flight <= 100
    assert (progress.placed, progress.failed, progress.unknown) == (2000, 0, 0)
    assert client_sockets(sandbox_url) == 0


@asyncio_only
async def test_dropped_connections_are_unknown_never_redialed(
    sandbox: Sandbox, sandbox_url: str
) -> None:
    sandbox.faults = Faults(drop_rate=0.05, seed=11)
    async with fast_client(sandbox_url) as client:
        outcomes = [o async for o in client.send_many(calls(400, 40), concurrency=20)]
    unknown = [o for o in outcomes if isinstance(o.error, OutcomeUnknownError)]
    assert sandbox.faults.injected > 5
    assert len(unknown) == sandbox.faults.injected
    assert all(o.error.request.callee == o.call.callee for o in unknown)  # type: ignore[union-attr]
    assert max(sandbox.state.dials_by_callee.values()) == 1
    assert sandbox.state.requests["voice/sendSip"] == 400


@asyncio_only
async def test_a_read_timeout_on_a_dial_is_unknown(sandbox: Sandbox, sandbox_url: str) -> None:
    sandbox.faults = Faults(latency=1.0)
    async with fast_client(sandbox_url, timeout=0.2) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.send_sip("932111111111", account="a")
    assert "ReadTimeout" in str(info.value)
    # Sent once, never again: the server may have dialed.
    assert sandbox.state.requests["voice/sendSip"] == 1


@asyncio_only
async def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with fast_client(f"http://127.0.0.1:{port}/v3") as client:
        with pytest.raises(TransportError) as info:
            await client.send_sip("932111111111", account="a")
    # Nothing reached a server, so it was safe to try again; the error says what failed.
    assert not isinstance(info.value, OutcomeUnknownError)
    assert "ConnectError" in str(info.value)


@asyncio_only
async def test_server_errors_on_a_query_are_retried(sandbox: Sandbox, fast: AsyncClient) -> None:
    placed = await fast.send_sip("932111111111", account="a")
    sandbox.faults = Faults(error_rate=1.0, limit=2, endpoints=frozenset({"voice/recordSip"}))
    assert (await fast.record(placed.voice_id)).voice_id == placed.voice_id
    assert sandbox.state.requests["voice/recordSip"] == 3


@asyncio_only
async def test_a_skewed_clock_is_learned_from_the_date_header() -> None:
    sandbox = Sandbox(SandboxState(clock=lambda: time.time() + 7200))
    with serve_in_thread(sandbox) as url:
        async with fast_client(url) as client:
            await client.send_sip("932111111111", account="a")
            assert 7190 < client.now() - time.time() < 7210
    assert sandbox.state.dials == 1
    assert sandbox.state.requests["voice/sendSip"] == 2


@asyncio_only
async def test_records_and_query_parameters(sandbox: Sandbox, fast: AsyncClient) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=40)
    seed_records(sandbox, 1500, start, end, seed=3)
    ids = [r.voice_id async for r in fast.records(start, end, page_size=100, concurrency=4)]
    assert len(ids) == len(set(ids)) == 1500
    # getRecordingFileUrl is a GET with query parameters: they must arrive.
    sandbox.state.recordings.files["r1.mp3"] = b"x"
    link = await fast.recording_url("r1.mp3")
    assert link.url.split("?")[0].endswith("/r1.mp3")


@asyncio_only
async def test_downloads_share_the_pool(
    sandbox: Sandbox, fast: AsyncClient, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4096
    sandbox.state.recordings.files["big.mp3"] = data
    written = await fast.download_recording("big.mp3", tmp_path / "big.mp3")
    assert written.read_bytes() == data


class Gzipped:
    """ASGI wrapper: gzip every answer, as a proxy in front of the API might."""

    def __init__(self, app: Sandbox, coding: str = "gzip") -> None:
        self.app = app
        self.coding = coding

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                squeeze = gzip.compress if self.coding == "gzip" else zlib.compress
                packed = squeeze(bytes(body))
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                headers += [
                    (b"content-encoding", self.coding.encode()),
                    (b"content-length", str(len(packed)).encode()),
                ]
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": packed})

        await self.app(scope, receive, capture)


@asyncio_only
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_compressed_answers_are_decoded(sandbox: Sandbox, coding: str) -> None:
    with serve_in_thread(Gzipped(sandbox, coding)) as url:
        async with fast_client(url) as client:
            placed = await client.send_sip("932111111111", account="a")
    assert sandbox.state.records.get(placed.voice_id) is not None


def test_decompression_rules() -> None:
    raw = b'{"status":"0"}'
    assert _decompressed(gzip.compress(raw), "gzip") == raw
    assert _decompressed(zlib.compress(raw), "Deflate") == raw
    squeezer = zlib.compressobj(wbits=-15)
    assert _decompressed(squeezer.compress(raw) + squeezer.flush(), "deflate") == raw
    assert _decompressed(raw, "identity") == raw
    with pytest.raises(httpx.DecodingError, match="unsupported Content-Encoding 'br'"):
        _decompressed(raw, "br")
    with pytest.raises(httpx.DecodingError, match="invalid gzip body"):
        _decompressed(raw, "gzip")


@asyncio_only
async def test_leaving_a_batch_early_leaves_no_socket(sandbox: Sandbox, sandbox_url: str) -> None:
    sandbox.faults = Faults(latency=0.05)
    progress = BatchProgress()
    async with fast_client(sandbox_url) as client:
        tasks_before = len(anyio.get_running_tasks())
        async with client.batch(calls(3000, 300), concurrency=50, progress=progress) as outcomes:
            async for outcome in outcomes:
                if outcome.ok and progress.placed >= 60:
                    break
        assert len(anyio.get_running_tasks()) == tasks_before
        assert progress.in_flight == 0
        dials = sandbox.state.dials
        await anyio.sleep(0.2)
        assert sandbox.state.dials <= dials + progress.cancelled
    assert client_sockets(sandbox_url) == 0
    assert sandbox.state.dials <= progress.placed + progress.cancelled


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_is_told_to_use_the_default_backend(sandbox_url: str) -> None:
    async with fast_client(sandbox_url) as client:
        with pytest.raises(RuntimeError, match="asyncio only"):
            await client.send_sip("932111111111", account="a")
