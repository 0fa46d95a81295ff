"""The parts of :class:`~laaffic_async._io.pool.PooledTransport` that are not the pool's logic.

Per-origin state (:class:`OriginPool`, its FIFO :class:`Waiter` entries), the public
:class:`PoolStats` snapshot, the streamed answer that gives its connection back when closed
(:class:`ResponseStream`), and the cached URL parse of the direct path (:func:`parsed`).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple, Protocol

import anyio
import httpcore
import httpx

from .http1 import Link, raise_mapped

__all__ = [
    "ClosableStream",
    "Conn",
    "OriginPool",
    "PoolStats",
    "ResponseStream",
    "Waiter",
    "parsed",
]

Conn = httpcore.AsyncHTTP11Connection


class ClosableStream(Protocol):
    """httpcore's streamed answer body: iterate it, then close it."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class PoolStats(NamedTuple):
    """One origin's pool: connections open or opening, idle ones, requests waiting."""

    connections: int
    idle: int
    waiting: int


class Waiter:
    """A request waiting for a connection (or a slot to open one) of a full origin pool."""

    __slots__ = ("conn", "event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False  # set with `conn` (a connection) or alone (a slot to open one)
        self.conn: tuple[Conn, Link] | None = None


class OriginPool:
    """One origin. ``count`` = connections open, opening, or promised to a waiter."""

    __slots__ = ("count", "idle", "live", "waiters")

    def __init__(self) -> None:
        self.count = 0
        self.idle: deque[tuple[float, Conn, Link]] = deque()  # (expires at, conn, its link)
        self.waiters: deque[Waiter] = deque()
        self.live: dict[Conn, Link] = {}  # every open connection -> its link


#: Gives a connection whose answer was closed back to its pool: ``(pool, conn, keepalive)``.
Release = Callable[[OriginPool, Conn, float | None], Awaitable[None]]


class ResponseStream(httpx.AsyncByteStream):
    """A streamed answer's body; closing it releases the connection to its pool."""

    __slots__ = ("_closed", "_conn", "_pool", "_release", "_stream", "keepalive")

    def __init__(
        self, release: Release, pool: OriginPool, conn: Conn, stream: ClosableStream
    ) -> None:
        self._release = release
        self._pool = pool
        self._conn = conn
        self._stream = stream
        self._closed = False
        self.keepalive: float | None = None  # the answer's Keep-Alive timeout=

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            raise_mapped(exc)
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Shielded: on trio a cancelled caller would otherwise be cancelled again at the first
        # checkpoint here, leaving the connection neither idle nor closed.
        with anyio.CancelScope(shield=True):
            try:
                await self._stream.aclose()  # httpcore closes the connection if unfinished
            finally:
                await self._release(self._pool, self._conn, self.keepalive)


@functools.lru_cache(maxsize=64)
def parsed(url: str) -> tuple[bytes, bytes, int | None, bytes, bytes]:
    """(scheme, host, port, path, Host header) of ``url``, parsed by httpx once per URL."""
    parsed_url = httpx.URL(url)
    host_header = parsed_url.netloc  # host[:port], the port only when not the scheme's default
    return (
        parsed_url.raw_scheme,
        parsed_url.raw_host,
        parsed_url.port,
        parsed_url.raw_path,
        host_header,
    )
