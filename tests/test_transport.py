"""PooledTransport (asyncio and trio) and AiohttpTransport (asyncio) against a real socket.

The server (``tests/wire_support.py``) is a small threaded HTTP/1.1 server on 127.0.0.1 that
counts connections and the requests each one carried, so the tests can see reuse, limits and
closes from the server's side. No timing assertions: sleeps only make overlaps likely or wait
for the server to notice.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping

import anyio
import httpx
import pytest

from laaffic_async._io.aiohttp import AiohttpTransport
from laaffic_async._io.pool import PooledTransport, PoolStats

from .wire_support import BIG, server
from .wire_support import RawServer as _Server

__all__ = ["server"]  # the fixture, imported


async def _until(predicate: Callable[[], bool], what: str) -> None:
    """Wait (at most 5 s) for the server threads to catch up."""
    for _ in range(500):
        if predicate():
            return
        await anyio.sleep(0.01)
    assert predicate(), what


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stats(transport: PooledTransport, server: _Server) -> PoolStats:
    return transport.pool_stats().get(f"http://127.0.0.1:{server.port}", PoolStats(0, 0, 0))


# --- PooledTransport: asyncio and trio (the anyio_backend fixture lives in conftest.py) ---


@pytest.mark.anyio
async def test_never_more_than_max_connections_and_reused(server: _Server) -> None:
    transport = PooledTransport(max_connections=4)
    statuses: list[int] = []
    async with httpx.AsyncClient(transport=transport) as client:

        async def one(i: int) -> None:
            response = await client.post(f"{server.url}/slow/0.01", json={"i": i})
            statuses.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(one, i)
        assert statuses == [200] * 60
        assert server.max_open == 4
        assert server.accepted == 4  # 60 requests on 4 connections
        assert sum(server.requests) == 60
        assert _stats(transport, server) == PoolStats(4, 4, 0)
        await client.get(f"{server.url}/ok")  # an idle connection, no new accept
        assert server.accepted == 4
    await _until(lambda: server.open == 0, "aclose closed every connection")


@pytest.mark.anyio
async def test_each_origin_has_its_own_pool(server: _Server) -> None:
    other = _Server()
    try:
        transport = PooledTransport(max_connections=2)
        async with httpx.AsyncClient(transport=transport) as client:
            async with anyio.create_task_group() as tg:
                for i in range(20):
                    url = (server if i % 2 else other).url
                    tg.start_soon(client.get, f"{url}/slow/0.01")
            assert (server.accepted, other.accepted) == (2, 2)
            assert _stats(transport, server) == _stats(transport, other) == PoolStats(2, 2, 0)
    finally:
        other.close()


@pytest.mark.anyio
async def test_stale_keepalive_connection_is_detected_before_sending(server: _Server) -> None:
    async with httpx.AsyncClient(transport=PooledTransport()) as client:
        assert (await client.get(f"{server.url}/close-after")).json()["conn"] == 0
        await _until(lambda: server.open == 0, "server closed the idle connection")
        await anyio.sleep(0.05)  # let the FIN reach our socket
        response = await client.post(f"{server.url}/ok", json={})
        assert response.json()["conn"] == 1
    assert server.requests == [1, 1]  # nothing was written to the stale connection


@pytest.mark.anyio
async def test_expired_idle_connection_is_not_reused(server: _Server) -> None:
    async with httpx.AsyncClient(transport=PooledTransport(keepalive_expiry=0.05)) as client:
        await client.get(f"{server.url}/ok")
        await anyio.sleep(0.1)
        assert (await client.get(f"{server.url}/ok")).json()["conn"] == 1
    await _until(lambda: server.open == 0, "expired connection closed")


@pytest.mark.anyio
async def test_connect_refused_is_connect_error() -> None:
    transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{_free_port()}/ok")
        assert all(stats.connections == 0 for stats in transport.pool_stats().values())


@pytest.mark.anyio
async def test_read_timeout_is_read_timeout_and_closes(server: _Server) -> None:
    transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, read=0.2)) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"{server.url}/slow/3")
        assert _stats(transport, server) == PoolStats(0, 0, 0)
        assert (await c.get(f"{server.url}/ok")).json()["conn"] == 1


@pytest.mark.anyio
async def test_server_disconnect_is_remote_protocol_error(server: _Server) -> None:
    transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(f"{server.url}/drop", json={})
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{server.url}/truncated")
        assert _stats(transport, server) == PoolStats(0, 0, 0)


@pytest.mark.anyio
async def test_cancel_mid_request_closes_the_connection(server: _Server) -> None:
    transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                await client.post(f"{server.url}/slow/5", json={})

            tg.start_soon(call)
            await _until(server.received.is_set, "request reached the server")
            tg.cancel_scope.cancel()
        assert _stats(transport, server) == PoolStats(0, 0, 0)
        await _until(lambda: server.open == 0, "cancelled connection closed, not pooled")
        assert (await client.get(f"{server.url}/ok")).json()["conn"] == 1


@pytest.mark.anyio
async def test_cancel_while_reading_the_body_closes_the_connection(server: _Server) -> None:
    transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        with anyio.move_on_after(0.3):
            async with client.stream("GET", f"{server.url}/partial") as response:
                assert response.status_code == 200
                async for _ in response.aiter_bytes():
                    pass
        assert _stats(transport, server) == PoolStats(0, 0, 0)
        assert (await client.get(f"{server.url}/ok")).json()["conn"] == 1


@pytest.mark.anyio
async def test_response_closed_in_a_cancelled_scope_still_returns_its_connection(
    server: _Server,
) -> None:
    transport = PooledTransport()
    async with transport:
        response = await transport.handle_async_request(httpx.Request("GET", f"{server.url}/ok"))
        assert isinstance(response.stream, httpx.AsyncByteStream)
        body = b"".join([chunk async for chunk in response.stream])
        assert json.loads(body)["conn"] == 0
        with anyio.CancelScope() as scope:
            scope.cancel()
            await response.aclose()
        assert _stats(transport, server) == PoolStats(1, 1, 0)


@pytest.mark.anyio
async def test_cancelled_and_timed_out_waiters_leave_the_queue(server: _Server) -> None:
    transport = PooledTransport(max_connections=1)
    async with httpx.AsyncClient(transport=transport) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, f"{server.url}/slow/1.5")
            await _until(server.received.is_set, "first request holds the connection")
            with pytest.raises(httpx.PoolTimeout):
                await client.get(f"{server.url}/ok", timeout=httpx.Timeout(5, pool=0.05))
            assert _stats(transport, server) == PoolStats(1, 0, 0)
            scope = anyio.CancelScope()

            async def waiter() -> None:
                with scope:
                    await client.get(f"{server.url}/ok")

            tg.start_soon(client.get, f"{server.url}/ok")  # waits, then runs to completion
            tg.start_soon(waiter)
            await _until(lambda: _stats(transport, server).waiting == 2, "two waiting")
            scope.cancel()
        assert _stats(transport, server) == PoolStats(1, 1, 0)
        assert server.accepted == 1


@pytest.mark.anyio
async def test_large_body_streams_and_connection_is_reused(server: _Server) -> None:
    async with httpx.AsyncClient(transport=PooledTransport()) as client:
        assert (await client.get(f"{server.url}/big")).content == BIG
        assert (await client.get(f"{server.url}/ok")).json()["conn"] == 0


@pytest.mark.anyio
async def test_aclose_closes_idle_and_active_connections(server: _Server) -> None:
    transport = PooledTransport()
    client = httpx.AsyncClient(transport=transport)
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(client.get, f"{server.url}/slow/0.05")
    assert _stats(transport, server).idle == server.accepted
    stream = await client.send(client.build_request("GET", f"{server.url}/partial"), stream=True)
    await client.aclose()
    await _until(lambda: server.open == 0, "every connection closed")
    with pytest.raises(httpx.ReadError):
        await stream.aread()
    await stream.aclose()
    assert _stats(transport, server).connections == 0


def test_tls_is_verified_by_default() -> None:
    context = PooledTransport()._ssl_context()
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert context.check_hostname
    with pytest.warns(UserWarning, match="verify=False"):
        unverified = PooledTransport(verify=False)._ssl_context()
    assert unverified.verify_mode.name == "CERT_NONE"


# --- PooledTransport.exchange: the client's default path, without httpx's client layer ---

TIMEOUT = httpx.Timeout(5.0).as_dict()


async def _exchange(
    transport: PooledTransport, url: str, params: tuple[tuple[str, str], ...] = ()
) -> tuple[int, bytes, Mapping[str, str]]:
    return await transport.exchange(
        "POST", url, content=b"{}", params=params, headers={"Api-Key": "k"}, timeout=TIMEOUT
    )


@pytest.mark.anyio
async def test_exchange_reads_the_answer_and_reuses_the_connection(server: _Server) -> None:
    transport = PooledTransport(max_connections=2)
    try:
        for _ in range(3):
            status, body, headers = await _exchange(transport, f"{server.url}/ok")
            assert status == 200
            assert json.loads(body) == {"path": "/ok", "conn": 0}
            assert headers["content-type"] == "application/json"  # names lower-cased
        status, body, _ = await _exchange(transport, f"{server.url}/q?a=1", (("b", "2 3"),))
        assert json.loads(body)["path"] == "/q?a=1&b=2+3"
        assert (await _exchange(transport, f"{server.url}/big"))[1] == BIG
        assert server.accepted == 1
        assert _stats(transport, server) == PoolStats(1, 1, 0)
    finally:
        await transport.aclose()


@pytest.mark.anyio
async def test_exchange_failures_are_httpx_errors_and_free_the_slot(server: _Server) -> None:
    transport = PooledTransport(max_connections=1)
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            await _exchange(transport, f"{server.url}/drop")
        with pytest.raises(httpx.RemoteProtocolError):
            await _exchange(transport, f"{server.url}/truncated")
        with pytest.raises(httpx.ConnectError):
            await _exchange(transport, f"http://127.0.0.1:{_free_port()}/ok")
        with pytest.raises(httpx.UnsupportedProtocol):
            await _exchange(transport, "ftp://127.0.0.1/ok")
        short = httpx.Timeout(5.0, read=0.2).as_dict()
        with pytest.raises(httpx.ReadTimeout):
            await transport.exchange(
                "GET", f"{server.url}/slow/3", content=None, params=(), headers={}, timeout=short
            )
        # Every failure gave its slot back: the one connection allowed still works.
        assert (await _exchange(transport, f"{server.url}/ok"))[0] == 200
        assert _stats(transport, server).waiting == 0
    finally:
        await transport.aclose()


@pytest.mark.anyio
async def test_exchange_cancelled_mid_request_closes_the_connection(server: _Server) -> None:
    transport = PooledTransport(max_connections=1)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_exchange, transport, f"{server.url}/slow/5")
            await _until(server.received.is_set, "request reached the server")
            tg.cancel_scope.cancel()
        await _until(lambda: server.open == 0, "cancelled connection closed")
        assert _stats(transport, server) == PoolStats(0, 0, 0)
        assert (await _exchange(transport, f"{server.url}/ok"))[0] == 200
    finally:
        await transport.aclose()


# --- AiohttpTransport: asyncio only (aiohttp has no trio support) ---

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@pytest.mark.anyio
@asyncio_only
async def test_aiohttp_success_and_reuse(server: _Server) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        for _ in range(5):
            response = await client.post(f"{server.url}/ok", json={"a": 1})
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {"path": "/ok", "conn": 0}
        assert (await client.get(f"{server.url}/big")).content == BIG
    assert server.accepted == 1


@pytest.mark.anyio
@asyncio_only
async def test_aiohttp_connect_refused_is_connect_error() -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{_free_port()}/ok")


@pytest.mark.anyio
@asyncio_only
async def test_aiohttp_read_timeout_is_read_timeout(server: _Server) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{server.url}/slow/3", timeout=httpx.Timeout(5, read=0.2))
        assert (await client.get(f"{server.url}/ok")).status_code == 200


@pytest.mark.anyio
@asyncio_only
async def test_aiohttp_pool_wait_timeout_is_connect_timeout(server: _Server) -> None:
    transport = AiohttpTransport(max_connections=1)
    async with httpx.AsyncClient(transport=transport) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.get, f"{server.url}/slow/1.5")
        await _until(server.received.is_set, "first request holds the connection")
        with pytest.raises(httpx.ConnectTimeout):
            await client.get(f"{server.url}/ok", timeout=httpx.Timeout(0.05))


@pytest.mark.anyio
@asyncio_only
async def test_aiohttp_server_disconnect_is_remote_protocol_error(server: _Server) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(f"{server.url}/drop", json={})
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{server.url}/truncated")


@pytest.mark.anyio
@asyncio_only
async def test_aiohttp_cancel_mid_request_then_next_request_works(server: _Server) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, f"{server.url}/slow/5")
            await _until(server.received.is_set, "request reached the server")
            tg.cancel_scope.cancel()
        await _until(lambda: server.open == 0, "cancelled connection closed")
        assert (await client.get(f"{server.url}/ok")).json()["conn"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_aiohttp_transport_refuses_trio(server: _Server) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(RuntimeError, match="asyncio only"):
            await client.get(f"{server.url}/ok")


@pytest.mark.anyio
async def test_exchange_reads_every_framing_and_reuses_only_clean_connections(
    server: _Server,
) -> None:
    """Chunked (after an interim 100), by length, and until close, over a real socket."""

    def until_close(conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nto the end")
        return False  # the server closes the connection: the end of the body

    server.script = {
        "/chunked": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nTrailer: t\r\n\r\n",
        "/until-close": until_close,
        "/garbage": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nbroken header\r\n\r\nok",
    }
    transport = PooledTransport(max_connections=1)
    try:
        status, body, headers = await _exchange(transport, f"{server.url}/chunked")
        assert (status, body, headers["transfer-encoding"]) == (200, b"hello!", "chunked")
        assert json.loads((await _exchange(transport, f"{server.url}/ok"))[1])["conn"] == 0
        assert (await _exchange(transport, f"{server.url}/until-close"))[1] == b"to the end"
        # A body delimited by the close cannot leave its connection for the next request.
        assert json.loads((await _exchange(transport, f"{server.url}/ok"))[1])["conn"] == 1
        with pytest.raises(httpx.RemoteProtocolError, match="bad header line"):
            await _exchange(transport, f"{server.url}/garbage")
        # The garbled connection was closed and its slot freed.
        assert json.loads((await _exchange(transport, f"{server.url}/ok"))[1])["conn"] == 2
        assert _stats(transport, server).connections == 1
    finally:
        await transport.aclose()


@pytest.mark.anyio
async def test_exchange_sends_a_body_larger_than_the_socket_buffers(server: _Server) -> None:
    """Writing waits for room (flow control) instead of failing or returning early."""
    transport = PooledTransport(max_connections=1)
    body = b"x" * (8 * 1024 * 1024)
    try:
        for _ in range(2):  # the second on the reused connection
            status, answer, _ = await transport.exchange(
                "POST", f"{server.url}/ok", content=body, params=(), headers={}, timeout=TIMEOUT
            )
            assert (status, json.loads(answer)["conn"]) == (200, 0)
        assert server.requests == [2]
    finally:
        await transport.aclose()
