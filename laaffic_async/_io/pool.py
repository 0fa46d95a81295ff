"""PooledTransport: httpx's API with a connection pool that costs O(1) per request.

Why it exists. ``benchmarks/bench_dial.py`` (2 cores, loopback, small JSON POSTs) measured a
default ``httpx.AsyncClient`` + Semaphore + gather loop at 283 requests/s and 3.5 ms of client
CPU per request with 200 in flight; at 500 in flight 92% of its requests failed with
``PoolTimeout``. Profiled (cProfile, pyinstrument) before changing anything: >80% of that CPU
is httpcore 1.0.9's ``AsyncConnectionPool._assign_requests_to_connections``, run twice per
request, which matches every queued request against every connection (O(queued x
connections)) and calls ``has_expired`` on every idle connection (~50 per request, each an
anyio ``extra()`` lookup and a ``poll`` syscall). Counting events showed the rest: at 200 in
flight it opened a new TCP connection for every request (it compares the *total* connection
count with ``max_keepalive_connections`` and closes idle ones), and at 10 in flight each
request hit ``ConnectionNotAvailable`` 2.7 times (one idle connection offered to several
waiters). Raising the limits only trades churn for longer scans (307 req/s). HTTP parsing
(h11) and anyio's streams were not the problem *then*: an asyncio-native stream saved under 10%.

So this transport first kept httpcore's HTTP/1.1 connection (``httpcore.AsyncHTTP11Connection``)
and replaced only the pool: per origin, idle connections in a deque reused newest first (the
oldest expire at the other end), one readability check on the one connection being reused, a
hard bound of ``max_connections`` with FIFO waiters to which a released connection (or a freed
slot) is handed directly, and anyio primitives, so it runs on asyncio and trio. Measured: 1,753
requests/s at 200 in flight (6.2x the default loop, 0.57 ms CPU/request), 1,420 at 500, 2,190
at 10; on trio 1,734 requests/s at 200 against 147 for httpx's stock transport. What remained
was httpx's client layer (~0.13 ms/request with a transport that does no I/O) and h11, so the
client sends its API calls through :meth:`PooledTransport.exchange`, which skips that layer:
send_many then made ~2,700 calls/s at 200 in flight (9x the default loop, 0.37 ms CPU/call).
With the pool and the client layer gone, httpcore's connection and h11 were ~70% of what was
left, so :meth:`PooledTransport.exchange` now writes each API call in one piece and reads its
answer with the pure reader of ``_core/http1.py`` on the connection's stream
(:func:`~laaffic_async._io.http1.exchange_on`): 0.17 ms CPU/call, then ~0.13 ms once asyncio's
socket transport was used directly, about plain aiohttp's cost. httpcore's connection remains
for :meth:`handle_async_request` (streamed downloads, httpx's face).

Requests are never retried: a POST to ``sendSip`` places a call, and a connection the server
closed while it idled turns such a call into an unknown outcome. So: a connection is checked for
EOF right before it is reused; it expires ``KEEPALIVE_MARGIN`` seconds before the server's
advertised ``Keep-Alive: timeout=N`` (or after ``keepalive_expiry``, whichever is first); the
newest idle connection is reused first; and one holding bytes nobody asked for (sent after a
complete answer) is closed, never reused, since those bytes would be read as the next
request's answer. HTTP/2 is not supported; ``stack.build_session`` routes proxied origins to
httpx's own proxy transport.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import cast
from urllib.parse import urlencode

import anyio
import httpcore
import httpx

from .._core.http1 import AnswerReader, encode_request
from ..errors import RequestValidationError
from .compression import ACCEPT_ENCODING, MAX_RESPONSE_SIZE, decompressed
from .failures import described
from .http1 import Link, exchange_on, network_backend, raise_mapped
from .keepalive import KEEPALIVE_MARGIN, keepalive_timeout, leftover
from .poolparts import ClosableStream, Conn, OriginPool, PoolStats, ResponseStream, Waiter, parsed
from .tls import Verify, ssl_context

__all__ = ["PoolStats", "PooledTransport"]


class PooledTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 transport for ``httpx.AsyncClient(transport=...)`` tuned for many small calls.

    ``max_connections`` bounds the connections to each origin (httpx's own limit is global;
    the SDK talks to one origin); requests beyond it wait in FIFO order, bounded by the
    request's ``pool`` timeout (``httpx.PoolTimeout``). Idle connections are reused newest
    first and closed after ``keepalive_expiry`` seconds, or ``KEEPALIVE_MARGIN`` before the
    server's ``Keep-Alive: timeout=``. ``verify``: see :func:`~laaffic_async._io.tls.ssl_context`.
    Timeouts come from the request's ``timeout`` extension (set by ``httpx.AsyncClient``);
    ``connect_timeout`` only serves requests without one. :meth:`exchange` refuses answers
    over ``max_response_size`` bytes. Works on asyncio and trio.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        verify: Verify = True,
        connect_timeout: float | None = 15.0,
        keepalive_expiry: float = 5.0,
        max_response_size: int = MAX_RESPONSE_SIZE,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        if max_connections < 1:
            raise RequestValidationError("max_connections", "must be at least 1", max_connections)
        self._max = max_connections
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._max_size = max_response_size
        self._connect_timeout = connect_timeout
        self._expiry = keepalive_expiry
        self._pools: dict[tuple[bytes, bytes, int], OriginPool] = {}
        self._closed = False
        # None: TCP through httpcore's backend for the running event loop. The sandbox's
        # in-memory network plugs in here, so tests run this very pool.
        self._network = network_backend

    def pool_stats(self) -> dict[str, PoolStats]:
        """Per origin (``"http://host:port"``): open connections, idle ones, waiting requests."""
        return {
            f"{scheme.decode()}://{host.decode()}:{port}": PoolStats(
                pool.count, len(pool.idle), len(pool.waiters)
            )
            for (scheme, host, port), pool in self._pools.items()
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request on a pooled connection; the response releases it when closed."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {
            "connect": self._connect_timeout
        }
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        stream, response = await self._send(core_request, timeouts)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
        )

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        timeout: Mapping[str, float | None],  # noqa: ASYNC109 - httpx's per-request form
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """One small request without httpx's client layer: ``(status, body, headers)``.

        What ``AsyncClient`` sends its API calls through by default. httpx's client layer
        (URL, header, request and response models) cost about 0.13 ms per request, and
        httpcore's HTTP/1.1 connection with h11 most of what was left
        (``benchmarks/bench_dial.py``), so the request is written in one piece by
        :func:`~laaffic_async._core.http1.encode_request` and the answer read by
        :class:`~laaffic_async._core.http1.AnswerReader` on the pooled connection's stream
        (:func:`~laaffic_async._io.http1.exchange_on`). The URL is still parsed by httpx
        (cached); errors are the httpx exceptions :meth:`handle_async_request` raises; the
        body is read whole (the API answers small JSON) and gzip/deflate undone. Answer
        header names come back lower-cased. ``timeout["total"]`` (else ``"read"``) bounds
        sending the request and reading the whole answer once a connection is in hand.
        """
        scheme, host, port, path, host_header = parsed(url)
        if params:
            path += (b"&" if b"?" in path else b"?") + urlencode(params).encode("ascii")
        raw_headers = [(b"Host", host_header), (b"Accept-Encoding", ACCEPT_ENCODING.encode())]
        raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        try:
            message = encode_request(method, path, raw_headers, content)
        except ValueError as exc:  # what h11 raises as LocalProtocolError
            raise httpx.LocalProtocolError(str(exc)) from exc
        origin = httpcore.Origin(scheme, host, port or (443 if scheme == b"https" else 80))
        pool = self._pool(origin)
        # Without a "total", the read timeout bounds the whole exchange (small answers).
        total = timeout.get("total", timeout.get("read"))
        reader = AnswerReader(method, limit=self._max_size)
        conn = await self._acquire(pool, timeout)
        # One scope for the attempt, its deadline started once a connection is in hand.
        with anyio.CancelScope() as scope:
            try:
                if conn is None:
                    conn = await self._connect(pool, origin, None, timeout)
                if total is not None:
                    scope.deadline = anyio.current_time() + total
                await exchange_on(pool.live[conn], message, reader)
            except BaseException as exc:
                await self._discard(pool, conn)  # an unfinished exchange: never reused
                if isinstance(exc, Exception):
                    raise_mapped(exc)  # connecting: httpcore's exceptions
                raise
        if scope.cancelled_caught or conn is None:
            raise httpx.ReadTimeout(f"no complete answer within {total} s")
        answer = reader.headers
        alive = answer.get("keep-alive")
        keepalive = keepalive_timeout([(b"keep-alive", alive.encode("latin-1"))]) if alive else None
        await self._release(pool, conn, keepalive, reusable=reader.reusable)
        body = decompressed(reader.body, answer.get("content-encoding"), self._max_size)
        return reader.status, body, answer

    async def _send(
        self, request: httpcore.Request, timeouts: Mapping[str, float | None]
    ) -> tuple[ResponseStream, httpcore.Response]:
        """Send on a pooled connection through httpcore (a streamed answer)."""
        url = request.url
        scheme = url.scheme
        origin = httpcore.Origin(scheme, url.host, url.port or (443 if scheme == b"https" else 80))
        pool = self._pool(origin)
        conn = await self._acquire(pool, timeouts)
        try:
            if conn is None:
                sni = request.extensions.get("sni_hostname")
                conn = await self._connect(pool, origin, sni, timeouts)
            response = await conn.handle_async_request(request)
        except BaseException as exc:
            # httpcore has already closed a connection whose exchange did not finish.
            await self._discard(pool, conn)
            if isinstance(exc, Exception):
                raise_mapped(exc)
            raise
        stream = ResponseStream(self._release, pool, conn, cast(ClosableStream, response.stream))
        stream.keepalive = keepalive_timeout(response.headers)
        return stream, response

    async def _acquire(self, pool: OriginPool, timeouts: Mapping[str, float | None]) -> Conn | None:
        """Return an idle connection, or None after reserving a slot to open a new one."""
        if self._closed:
            raise RuntimeError("PooledTransport is closed")
        idle = pool.idle
        while idle:
            expires, conn, link = idle.pop()
            if expires < time.monotonic() or link.readable():
                await self._discard(pool, conn, regrant=False)
                continue
            return conn
        if pool.count < self._max:
            pool.count += 1
            return None
        waiter = Waiter()
        pool.waiters.append(waiter)
        try:
            with anyio.fail_after(timeouts.get("pool")):
                await waiter.event.wait()
        except BaseException as exc:
            if waiter.granted:  # handed a connection or a slot as we gave up: pass it on
                with anyio.CancelScope(shield=True):
                    if waiter.conn is not None:
                        await self._release(pool, waiter.conn[0])
                    else:
                        await self._discard(pool, None)
            else:
                with contextlib.suppress(ValueError):  # aclose() may have removed it
                    pool.waiters.remove(waiter)  # O(waiters), only on timeout or cancellation
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("Timed out waiting for a pooled connection") from exc
            raise
        if self._closed or not waiter.granted:  # woken by aclose(), or granted just before it
            if waiter.granted:
                await self._discard(pool, waiter.conn[0] if waiter.conn else None)
            raise RuntimeError("PooledTransport is closed")
        if waiter.conn is None:
            return None  # the slot of a connection that was closed is ours
        conn, link = waiter.conn
        if link.readable():
            await self._discard(pool, conn, regrant=False)
            pool.count += 1
            return None
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_context(self._verify)
        return self._ssl

    def _pool(self, origin: httpcore.Origin) -> OriginPool:
        if origin.scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{origin.scheme.decode()}://'."
            )
        key = (origin.scheme, origin.host, origin.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = OriginPool()
        return pool

    async def _connect(
        self,
        pool: OriginPool,
        origin: httpcore.Origin,
        sni: str | None,
        timeouts: Mapping[str, float | None],
    ) -> Conn:
        timeout = timeouts.get("connect")
        host = origin.host.decode("ascii")
        network = self._network or network_backend()
        stream = await network.connect_tcp(host, origin.port, timeout=timeout)
        try:
            if origin.scheme == b"https":
                sni = sni or host
                try:
                    stream = await stream.start_tls(
                        self._ssl_context(), server_hostname=sni, timeout=timeout
                    )
                except httpcore.ConnectError as exc:
                    raise httpcore.ConnectError(
                        f"TLS handshake with {sni} failed: {described(exc)}"
                    ) from exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
        conn = Conn(origin=origin, stream=stream)
        pool.live[conn] = Link(stream)
        return conn

    async def _release(
        self,
        pool: OriginPool,
        conn: Conn,
        keepalive: float | None = None,
        reusable: bool | None = None,
    ) -> None:
        """Give a connection whose response was closed to a waiter or back to the pool.

        ``reusable``: what :meth:`exchange`'s own reader says of the connection (None: the
        connection's httpcore state decides, after a streamed answer).
        """
        expiry = self._expiry
        if keepalive is not None:
            expiry = min(expiry, keepalive - KEEPALIVE_MARGIN)
        if reusable is None:
            reusable = conn.is_idle() and not leftover(conn)
        if self._closed or not reusable or conn.is_closed() or conn not in pool.live:
            await self._discard(pool, conn)
            return
        if expiry <= 0:
            await self._discard(pool, conn)
            return
        link = pool.live[conn]
        if pool.waiters:
            waiter = pool.waiters.popleft()
            waiter.conn, waiter.granted = (conn, link), True
            waiter.event.set()
            return
        now = time.monotonic()
        pool.idle.append((now + expiry, conn, link))
        # We reuse from the right, so the oldest wait at the left: close those past their
        # expiry so they do not hold slots or sockets. Amortised O(1).
        while pool.idle[0][0] < now:
            _, old, _ = pool.idle.popleft()
            await self._discard(pool, old, regrant=False)

    async def _discard(self, pool: OriginPool, conn: Conn | None, regrant: bool = True) -> None:
        """Close ``conn`` (None: a slot whose connection never opened) and free its slot."""
        # Book-keeping first, so a cancellation during the close cannot leak the slot.
        if regrant and pool.waiters and not self._closed:
            waiter = pool.waiters.popleft()
            waiter.granted = True  # the slot passes to the waiter, who opens a connection
            waiter.event.set()
        else:
            pool.count -= 1
        if conn is not None:
            pool.live.pop(conn, None)
            if not conn.is_closed():
                with anyio.CancelScope(shield=True):
                    await conn.aclose()

    async def aclose(self) -> None:
        """Close every connection, idle or in use. The transport cannot be used afterwards."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            for pool in self._pools.values():
                while pool.waiters:
                    pool.waiters.popleft().event.set()  # not granted: they raise
                while pool.idle:
                    await self._discard(pool, pool.idle.pop()[1])
                # Connections in use: their responses fail; releasing them frees the slots.
                for conn in list(pool.live):
                    await conn.aclose()
