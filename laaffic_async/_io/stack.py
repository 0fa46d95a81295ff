"""HttpStack: which connection pool carries an AsyncClient's requests, and the one send call.

Chosen once per client. The retry rules in ``AsyncClient.request`` see only
``exchange()``'s answer, ``(status, body, headers)``, or one of httpx's exceptions, whatever
sends the bytes:

* ``transport=`` or ``http_client=`` from the caller (the test seam): always used, through
  httpx;
* ``"pooled"`` (default): ``PooledTransport``, asyncio and trio; httpcore's own pool spends
  CPU per request that grows with connections and waiters (5-17 ms at 100-200 in flight, see
  ``_transport.py``), ours stays O(1);
* ``"aiohttp"`` (the ``fast`` extra): ``AiohttpTransport``, asyncio only;
* ``"httpx"``: httpcore's own pool, with its keep-alive limit equal to the pool size.

With the first two, API calls skip httpx's client layer (``exchange()`` on the transport):
its URL, header, request and response models cost about 0.13 ms per request, as much as a
whole aiohttp request. httpx is kept over the same pool for streamed downloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs
import httpx

from .._version import __version__
from ..errors import RequestValidationError
from .aiohttp import AiohttpTransport
from .pool import PooledTransport

__all__ = ["Backend", "HttpStack"]

Backend = Literal["pooled", "aiohttp", "httpx"]

#: Sent on every request of a client the SDK builds, whatever path carries it.
USER_AGENT = f"laaffic-async/{__version__}"


@attrs.define
class HttpStack:
    """The httpx client (owned or the caller's), and our transport when calls go to it direct."""

    http: httpx.AsyncClient
    timeout: Mapping[str, float | None]
    owned: bool
    #: The pool size ``send_many`` checks its concurrency against (None: the caller's pool).
    pool_size: int | None
    direct: PooledTransport | AiohttpTransport | None = None

    @classmethod
    def build(
        cls,
        *,
        backend: Backend,
        max_connections: int,
        timeout: float | httpx.Timeout,
        transport: httpx.AsyncBaseTransport | None,
        http_client: httpx.AsyncClient | None,
    ) -> HttpStack:
        spec = httpx.Timeout(timeout).as_dict()
        if http_client is not None:
            return cls(http_client, spec, owned=False, pool_size=None)
        chosen = transport or _default_transport(backend, max_connections)
        http = httpx.AsyncClient(
            transport=chosen,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            # Proxies from the environment only when the caller builds the client.
            trust_env=False,
        )
        if transport is not None:
            return cls(http, spec, owned=True, pool_size=None)
        direct = chosen if isinstance(chosen, (PooledTransport, AiohttpTransport)) else None
        return cls(http, spec, owned=True, pool_size=max_connections, direct=direct)

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        params: tuple[tuple[str, str], ...],
        headers: Mapping[str, str],
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """Send one request, read the whole answer: ``(status, body, headers)``."""
        if self.direct is not None:
            headers = {**headers, "User-Agent": USER_AGENT}
            return await self.direct.exchange(
                method, url, content=body, params=params, headers=headers, timeout=self.timeout
            )
        response = await self.http.request(
            method, url, content=body, params=params or None, headers=headers
        )
        return response.status_code, response.content, response.headers

    async def aclose(self) -> None:
        """Close the pooled connections, unless the caller owns the httpx client."""
        if self.owned:
            await self.http.aclose()


def _default_transport(backend: str, max_connections: int) -> httpx.AsyncBaseTransport:
    if backend == "pooled":
        return PooledTransport(max_connections=max_connections, verify=True)
    if backend == "aiohttp":
        return AiohttpTransport(max_connections=max_connections, verify=True)
    if backend == "httpx":
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        return httpx.AsyncHTTPTransport(limits=limits, verify=True)
    raise RequestValidationError(
        "http_backend", "must be 'pooled' (default), 'aiohttp' (the fast extra) or 'httpx'"
    )
