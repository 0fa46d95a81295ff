"""The client's direct paths, over a real socket: API calls without httpx's client layer.

With its own transports (``http_backend="pooled"``, the default, and ``"aiohttp"``, the
fast extra) the client sends API calls through the transport's ``exchange()`` instead of
through ``httpx.AsyncClient``, so every rule the httpx path keeps (the in-process tests,
which hand the client a transport) is checked here again: exactly-once dials, ambiguous
failures as unknown outcomes, retries only where nothing ran, the clock re-sign on -16
(which reads the server's Date header), read-only paging, query parameters, compressed
answers, and no socket left open. The pooled path runs on asyncio and trio; aiohttp has no
trio support, and on trio the client says so.
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
    __version__,
)
from laaffic_async._io.aiohttp import AiohttpTransport
from laaffic_async._io.pool import PooledTransport
from laaffic_async._io.session import DirectSession, HttpxSession
from laaffic_async._io.stack import Backend
from laaffic_async.testing import (
    Faults,
    Sandbox,
    SandboxState,
    SandboxTransport,
    seed_records,
    serve_in_thread,
)

from .batch_support import APP, KEY, SECRET, assert_exactly_once, calls, client_sockets

pytestmark = pytest.mark.anyio
# (event loop, http_backend): the pooled path on both loops, aiohttp on asyncio only.
direct_paths = pytest.mark.parametrize(
    ("anyio_backend", "http_backend"),
    [("asyncio", "pooled"), ("trio", "pooled"), ("asyncio", "aiohttp")],
)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)


def direct_client(url: str, http_backend: Backend = "aiohttp", **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return AsyncClient(KEY, SECRET, app_id=APP, base_url=url, http_backend=http_backend, **kwargs)


@pytest.fixture
async def direct(sandbox_url: str, http_backend: Backend) -> AsyncIterator[AsyncClient]:
    async with direct_client(sandbox_url, http_backend) as client:
        yield client


def test_direct_paths_are_used_only_without_a_caller_transport() -> None:
    pooled = direct_client("http://127.0.0.1:1/v3", "pooled")._caller.session
    assert isinstance(pooled, DirectSession)
    assert isinstance(pooled.transport, PooledTransport)
    fast = direct_client("http://127.0.0.1:1/v3", "aiohttp")._caller.session
    assert isinstance(fast, DirectSession)
    assert isinstance(fast.transport, AiohttpTransport)
    mock = httpx.MockTransport(lambda request: httpx.Response(500))
    given = direct_client("http://127.0.0.1:1/v3", transport=mock)._caller.session
    assert isinstance(given, HttpxSession)  # a caller's own httpx transport: used through httpx
    assert isinstance(direct_client("http://127.0.0.1:1/v3", "httpx")._caller.session, HttpxSession)


def test_the_sandbox_runs_through_the_default_pool(transport: SandboxTransport) -> None:
    client = direct_client("http://sandbox/v3", "pooled", transport=transport)
    session = client._caller.session
    assert isinstance(session, DirectSession)
    assert isinstance(session.transport, PooledTransport)


@direct_paths
async def test_2000_calls_placed_exactly_once(
    sandbox: Sandbox, sandbox_url: str, http_backend: Backend
) -> None:
    progress = BatchProgress()
    async with direct_client(sandbox_url, http_backend) as client:
        batch = client.send_many(calls(2000, 200), concurrency=100, progress=progress)
        outcomes = [o async for o in batch]
    assert_exactly_once(sandbox, outcomes, 2000)
    assert sandbox.state.peak_in_flight <= 100
    assert (progress.placed, progress.failed, progress.unknown) == (2000, 0, 0)
    assert client_sockets(sandbox_url) == 0


@direct_paths
async def test_dropped_connections_are_unknown_never_redialed(
    sandbox: Sandbox, sandbox_url: str, http_backend: Backend
) -> None:
    sandbox.faults = Faults(drop_rate=0.05, seed=11)
    async with direct_client(sandbox_url, http_backend) as client:
        outcomes = [o async for o in client.send_many(calls(400, 40), concurrency=20)]
    unknown = [o for o in outcomes if isinstance(o.error, OutcomeUnknownError)]
    assert sandbox.faults.injected > 5
    assert len(unknown) == sandbox.faults.injected
    assert all(o.error.request.callee == o.call.callee for o in unknown)  # type: ignore[union-attr]
    assert max(sandbox.state.dials_by_callee.values()) == 1
    assert sandbox.state.requests["voice/sendSip"] == 400


@direct_paths
async def test_a_read_timeout_on_a_dial_is_unknown(
    sandbox: Sandbox, sandbox_url: str, http_backend: Backend
) -> None:
    sandbox.faults = Faults(latency=1.0)
    async with direct_client(sandbox_url, http_backend, timeout=0.2) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.send_sip("932111111111", account="a")
    assert "ReadTimeout" in str(info.value)
    # Sent once, never again: the server may have dialed.
    assert sandbox.state.requests["voice/sendSip"] == 1


@direct_paths
async def test_a_dial_that_waited_out_its_connection_is_retried_never_unknown(
    sandbox: Sandbox, sandbox_url: str, http_backend: Backend
) -> None:
    """One connection, two dials: the second runs out waiting for it (nothing sent), so it is
    retried until the first gives the connection back, and each callee is dialed once."""
    sandbox.faults = Faults(latency=0.3)
    short_wait = httpx.Timeout(5.0, pool=0.05, connect=0.05)
    patient = RetryPolicy(attempts=20, base_delay=0.1, max_delay=0.2)
    async with direct_client(
        sandbox_url, http_backend, timeout=short_wait, retry=patient, max_connections=1
    ) as client:
        placed: list[str] = []

        async def dial(callee: str, account: str) -> None:
            placed.append((await client.send_sip(callee, account=account)).voice_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(dial, "932111111111", "a")
            tg.start_soon(dial, "932111111112", "b")
    assert len(placed) == 2
    assert sandbox.state.requests["voice/sendSip"] == 2
    assert max(sandbox.state.dials_by_callee.values()) == 1


@direct_paths
async def test_a_refused_connection_is_retried_then_reported(http_backend: Backend) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with direct_client(f"http://127.0.0.1:{port}/v3", http_backend) as client:
        with pytest.raises(TransportError) as info:
            await client.send_sip("932111111111", account="a")
    # Nothing reached a server, so it was safe to try again; the error says what failed.
    assert not isinstance(info.value, OutcomeUnknownError)
    assert "ConnectError" in str(info.value)


@direct_paths
async def test_server_errors_on_a_query_are_retried(
    sandbox: Sandbox, direct: AsyncClient, http_backend: Backend
) -> None:
    placed = await direct.send_sip("932111111111", account="a")
    sandbox.faults = Faults(error_rate=1.0, limit=2, endpoints=frozenset({"voice/recordSip"}))
    assert (await direct.record(placed.voice_id)).voice_id == placed.voice_id
    assert sandbox.state.requests["voice/recordSip"] == 3


@direct_paths
async def test_a_skewed_clock_is_learned_from_the_date_header(http_backend: Backend) -> None:
    sandbox = Sandbox(SandboxState(clock=lambda: time.time() + 7200))
    with serve_in_thread(sandbox) as url:
        async with direct_client(url, http_backend) as client:
            await client.send_sip("932111111111", account="a")
            assert 7190 < client.now() - time.time() < 7210
    assert sandbox.state.dials == 1
    assert sandbox.state.requests["voice/sendSip"] == 2


@direct_paths
async def test_records_and_query_parameters(
    sandbox: Sandbox, direct: AsyncClient, http_backend: Backend
) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=40)
    seed_records(sandbox, 1500, start, end, seed=3)
    ids = [r.voice_id async for r in direct.records(start, end, page_size=100, concurrency=4)]
    assert len(ids) == len(set(ids)) == 1500
    # getRecordingFileUrl is a GET with query parameters: they must arrive.
    sandbox.state.recordings.files["r1.mp3"] = b"x"
    link = await direct.recording_url("r1.mp3")
    assert link.url.split("?")[0].endswith("/r1.mp3")


@direct_paths
async def test_downloads_share_the_pool(
    sandbox: Sandbox, direct: AsyncClient, tmp_path: Path, http_backend: Backend
) -> None:
    data = bytes(range(256)) * 4096
    sandbox.state.recordings.files["big.mp3"] = data
    written = await direct.download_recording("big.mp3", tmp_path / "big.mp3")
    assert written.read_bytes() == data


class HeaderSpy:
    """ASGI wrapper: keeps every request's headers."""

    def __init__(self, app: Sandbox) -> None:
        self.app = app
        self.seen: list[dict[bytes, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(dict(scope["headers"]))
        await self.app(scope, receive, send)


@direct_paths
async def test_requests_name_their_host_and_sender(sandbox: Sandbox, http_backend: Backend) -> None:
    spy = HeaderSpy(sandbox)
    with serve_in_thread(spy) as url:
        async with direct_client(url, http_backend) as client:
            await client.send_sip("932111111111", account="a")
    [headers] = spy.seen
    assert headers[b"host"].decode() == url.split("/")[2]
    assert headers[b"user-agent"] == f"laaffic-async/{__version__}".encode()
    assert headers[b"api-key"] == KEY.encode()


async def test_the_httpx_path_names_its_sender_too(sandbox: Sandbox) -> None:
    spy = HeaderSpy(sandbox)
    transport = httpx.ASGITransport(app=spy)
    async with direct_client("http://sandbox/v3", "pooled", transport=transport) as client:
        await client.send_sip("932111111111", account="a")
    assert [h[b"user-agent"] for h in spy.seen] == [f"laaffic-async/{__version__}".encode()]


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


@direct_paths
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_compressed_answers_are_decoded(
    sandbox: Sandbox, coding: str, http_backend: Backend
) -> None:
    with serve_in_thread(Gzipped(sandbox, coding)) as url:
        async with direct_client(url, http_backend) as client:
            placed = await client.send_sip("932111111111", account="a")
    assert sandbox.state.records.get(placed.voice_id) is not None


@direct_paths
async def test_leaving_a_batch_early_leaves_no_socket(
    sandbox: Sandbox, sandbox_url: str, http_backend: Backend
) -> None:
    sandbox.faults = Faults(latency=0.05)
    progress = BatchProgress()
    async with direct_client(sandbox_url, http_backend) as client:
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
    async with direct_client(sandbox_url, "aiohttp") as client:
        with pytest.raises(RuntimeError, match="asyncio only"):
            await client.send_sip("932111111111", account="a")
