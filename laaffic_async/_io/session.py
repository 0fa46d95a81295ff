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

Both read answers alike (``compression.py``): only gzip, deflate and identity offered, a cap
on the size raw and decoded, failures to decode as :class:`~.compression.UnusableAnswer` (an
``httpx.TransportError``: the request was answered, so a dial is an unknown outcome and a
query is retried), the ``"total"`` timeout as a deadline per attempt once connected, and
failure messages that are never empty and never quote a link's query string.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Protocol

import anyio
import attrs
import httpx

from .aiohttp import AiohttpTransport
from .compression import (
    ACCEPT_ENCODING,
    MAX_RESPONSE_SIZE,
    UndecodableAnswer,
    decompressed,
    read_capped,
)
from .failures import described
from .pool import PooledTransport

__all__ = ["DirectSession", "HttpxSession", "Session", "timeouts"]


def timeouts(timeout: float | httpx.Timeout) -> dict[str, float | None]:
    """httpx's four timeouts plus ``total``: the deadline for an attempt once connected."""
    spec: dict[str, float | None] = dict(httpx.Timeout(timeout).as_dict())
    spec["total"] = spec["read"]
    return spec


def _explanation(exc: httpx.TransportError | httpx.DecodingError) -> Exception | None:
    """What to raise instead of a failure whose message is empty or quotes a link's query."""
    if isinstance(exc, httpx.DecodingError):  # a streamed download's body (httpx decodes it)
        return UndecodableAnswer(described(exc))
    text = described(exc)
    return type(exc)(text) if text != str(exc) else None


@contextlib.contextmanager
def _explained() -> Iterator[None]:
    """Re-raise a transport failure whose message is empty or quotes a link's query."""
    try:
        yield
    except (httpx.TransportError, httpx.DecodingError) as exc:
        better = _explanation(exc)
        if better is None:
            raise
        raise better from exc


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
        # Not `with _explained()`: a generator context manager per call cost ~4 us of CPU with
        # 200 calls in flight (benchmarks/bench_dial.py).
        try:
            return await self.transport.exchange(
                method, url, content=content, params=params, headers=headers, timeout=self.timeout
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            better = _explanation(exc)
            if better is None:
                raise
            raise better from exc

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        request = httpx.Request(method, url, headers=headers, extensions={"timeout": self.timeout})
        with _explained():
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
    timeout: Mapping[str, float | None] = attrs.field(factory=dict)
    max_response_size: int = MAX_RESPONSE_SIZE

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> Answer:
        spec = self.timeout
        total = spec.get("total")
        # httpx bounds waiting for a connection and connecting itself: the deadline for the
        # answer runs on top of both, so it can only end an attempt that is connected.
        deadline = None
        if total is not None:
            deadline = total + (spec.get("pool") or 0.0) + (spec.get("connect") or 0.0)
        headers = {**headers, "Accept-Encoding": ACCEPT_ENCODING}
        with _explained(), anyio.move_on_after(deadline) as scope:
            async with self.http.stream(
                method, url, content=content, params=list(params) or None, headers=headers
            ) as response:
                raw = await read_capped(response.aiter_raw(), self.max_response_size)
        if scope.cancelled_caught:
            raise httpx.ReadTimeout(f"no complete answer within {total} s")
        coding = response.headers.get("content-encoding")
        return (
            response.status_code,
            decompressed(raw, coding, self.max_response_size),
            response.headers,
        )

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        with _explained():
            async with self.http.stream(method, url, headers=headers) as response:
                yield response

    async def aclose(self) -> None:
        if self.owned:
            await self.http.aclose()
