"""Session: the small protocol every transport adapter speaks to the :class:`~._io.caller.Caller`.

Two operations, as gidgethub's backends have: :meth:`Session.exchange` sends one small API
request and reads the whole answer; :meth:`Session.stream` opens a streamed GET (recording
downloads). Failures are httpx's exception types whatever carries the bytes, so the caller
has one table of what may be retried. Adapters:

* :class:`DirectSession`: our own transports (``PooledTransport``, the default, and
  ``AiohttpTransport``, the ``fast`` extra), called without httpx's client layer;
* :class:`HttpxSession`: any ``httpx.AsyncClient`` (a caller's ``http_client=``, or one over
  a caller's ``transport=``), for proxies, HTTP/2 or custom transports.

The sandbox plugs into :class:`DirectSession` through an in-memory network, so tests run
the production path.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

import attrs
import httpx

from .aiohttp import AiohttpTransport
from .pool import PooledTransport

__all__ = ["DirectSession", "HttpxSession", "Session"]

Answer = tuple[int, bytes, Mapping[str, str]]


class Session(Protocol):
    """What the caller needs from a transport."""

    #: The connection pool size ``send_many`` checks its concurrency against (None: unknown).
    pool_size: int | None

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> Answer:
        """Send one request and read the whole answer: ``(status, body, headers)``."""
        ...

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str]
    ) -> contextlib.AbstractAsyncContextManager[httpx.Response]:
        """Open a streamed answer (closed, and its connection released, on exit)."""
        ...

    async def aclose(self) -> None:
        """Close the connections this session owns."""
        ...


@attrs.define(eq=False)
class DirectSession:
    """One of our transports, called directly (``exchange``) or through its httpx face."""

    transport: PooledTransport | AiohttpTransport
    timeout: Mapping[str, float | None]
    pool_size: int | None

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> Answer:
        return await self.transport.exchange(
            method, url, content=content, params=params, headers=headers, timeout=self.timeout
        )

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        request = httpx.Request(method, url, headers=headers, extensions={"timeout": self.timeout})
        response = await self.transport.handle_async_request(request)
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()


@attrs.define(eq=False)
class HttpxSession:
    """An ``httpx.AsyncClient``: ours over a caller's transport, or the caller's own client."""

    http: httpx.AsyncClient
    owned: bool
    pool_size: int | None = None

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> Answer:
        response = await self.http.request(
            method, url, content=content, params=list(params) or None, headers=headers
        )
        return response.status_code, response.content, response.headers

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        async with self.http.stream(method, url, headers=headers) as response:
            yield response

    async def aclose(self) -> None:
        if self.owned:
            await self.http.aclose()
