"""HttpStack: which connection pool carries an AsyncClient's requests, and the one send call.

Chosen once per client. The retry rules in ``AsyncClient.request`` see only
``exchange()``'s answer, ``(status, body, headers)``, or one of httpx's exceptions, whatever
sends the bytes:

* ``transport=`` or ``http_client=`` from the caller (the test seam): always used, through
  httpx;
* ``"pooled"`` (default): ``PooledTransport``, asyncio and trio; httpcore's own pool spends
  CPU per request that grows with connections and waiters (5-17 ms at 100-200 in flight, see
  ``pool.py``), ours stays O(1);
* ``"aiohttp"`` (the ``fast`` extra): ``AiohttpTransport``, asyncio only;
* ``"httpx"``: httpcore's own pool, with its keep-alive limit equal to the pool size
  (``StockTransport``: it closes a connection holding bytes past its answer).

With the first two, API calls skip httpx's client layer (``exchange()`` on the transport):
its URL, header, request and response models cost about 0.13 ms per request, as much as a
whole aiohttp request. httpx is kept over the same pool for streamed downloads, and carries
every request that goes through a proxy (``proxy=`` or, with ``trust_env``, the
``HTTP(S)_PROXY``/``NO_PROXY`` variables, with httpx's own rules), so every backend honours
proxies the same way.

Every backend reads answers the same way (``compression.py``): the same ``Accept-Encoding``,
the same size cap, the same decoding errors, the same per-attempt deadline.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Literal

import anyio
import attrs
import httpx
from httpx._utils import get_environment_proxies

from .._version import __version__
from ..errors import RequestValidationError
from .aiohttp import AiohttpTransport
from .compression import ACCEPT_ENCODING, MAX_RESPONSE_SIZE, decompressed, read_capped
from .failures import described
from .pool import PooledTransport
from .stock import StockTransport
from .tls import Verify, ssl_context

__all__ = ["Backend", "HttpOptions", "HttpStack"]

Backend = Literal["pooled", "aiohttp", "httpx"]

#: Sent on every request of a client the SDK builds, whatever path carries it.
USER_AGENT = f"laaffic-async/{__version__}"


@attrs.frozen
class HttpOptions:
    """The HTTP knobs of ``AsyncClient`` (documented there), checked once."""

    verify: Verify = True
    proxy: str | httpx.URL | None = None
    trust_env: bool = True
    keepalive_expiry: float = 5.0
    max_response_size: int = MAX_RESPONSE_SIZE

    def __attrs_post_init__(self) -> None:
        expiry = self.keepalive_expiry
        if isinstance(expiry, bool) or not isinstance(expiry, (int, float)) or expiry < 0:
            raise RequestValidationError("keepalive_expiry", "must be a number >= 0", expiry)
        size = self.max_response_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1024:
            raise RequestValidationError("max_response_size", "must be an integer >= 1024", size)


def _timeouts(timeout: float | httpx.Timeout) -> dict[str, float | None]:
    """httpx's four timeouts plus ``total``: the deadline for an attempt once connected."""
    spec: dict[str, float | None] = dict(httpx.Timeout(timeout).as_dict())
    spec["total"] = spec["read"]
    return spec


@attrs.define
class HttpStack:
    """The httpx client (owned or the caller's), and our transport when calls go to it direct."""

    http: httpx.AsyncClient
    timeout: Mapping[str, float | None]
    owned: bool
    #: The pool size ``send_many`` checks its concurrency against (None: the caller's pool).
    pool_size: int | None
    direct: PooledTransport | AiohttpTransport | None = None
    max_response_size: int = MAX_RESPONSE_SIZE
    _routes: dict[str, bool] = attrs.field(factory=dict)

    @classmethod
    def build(
        cls,
        *,
        backend: Backend,
        max_connections: int,
        timeout: float | httpx.Timeout,
        transport: httpx.AsyncBaseTransport | None,
        http_client: httpx.AsyncClient | None,
        options: HttpOptions | None = None,
    ) -> HttpStack:
        options = options or HttpOptions()
        spec = _timeouts(timeout)
        limit = options.max_response_size
        if http_client is not None:
            return cls(http_client, spec, owned=False, pool_size=None, max_response_size=limit)
        if transport is not None:
            if options.proxy is not None:
                raise RequestValidationError(
                    "proxy", "cannot be combined with transport= (the transport is used as is)"
                )
            # The caller's transport is the test seam: used as given, no proxy from the env.
            http = httpx.AsyncClient(
                transport=transport,
                timeout=timeout,
                headers={"User-Agent": USER_AGENT},
                trust_env=False,
            )
            return cls(http, spec, owned=True, pool_size=None, max_response_size=limit)
        context = ssl_context(options.verify)
        chosen = _default_transport(backend, max_connections, context, options)
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=options.keepalive_expiry,
        )
        # httpx reads the proxy variables only when it builds the transport itself, so they
        # are mounted here, with httpx's own parsing (NO_PROXY included).
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
        if options.trust_env and options.proxy is None:
            for pattern, url in get_environment_proxies().items():
                mounts[pattern] = None if url is None else _proxy_transport(url, context, limits)
        try:
            http = httpx.AsyncClient(
                transport=chosen,
                mounts=mounts,
                timeout=timeout,
                headers={"User-Agent": USER_AGENT},
                verify=context,
                proxy=options.proxy,
                trust_env=options.trust_env,
                limits=limits,
            )
        except (ValueError, TypeError, ImportError) as exc:
            raise RequestValidationError(
                "proxy", f"cannot be used ({exc})", _safe_proxy(options.proxy)
            ) from exc
        direct = chosen if isinstance(chosen, (PooledTransport, AiohttpTransport)) else None
        return cls(
            http,
            spec,
            owned=True,
            pool_size=max_connections,
            direct=direct,
            max_response_size=limit,
        )

    def _direct_for(self, url: str) -> PooledTransport | AiohttpTransport | None:
        """Our transport, unless a proxy (explicit or from the environment) serves ``url``."""
        direct = self.direct
        if direct is None:
            return None
        routed = self._routes.get(url)
        if routed is None:
            if len(self._routes) > 256:
                self._routes.clear()
            chosen = self.http._transport_for_url(httpx.URL(url))
            routed = self._routes[url] = chosen is direct
        return direct if routed else None

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
        try:
            direct = self._direct_for(url)
            if direct is not None:
                headers = {**headers, "User-Agent": USER_AGENT}
                return await direct.exchange(
                    method, url, content=body, params=params, headers=headers, timeout=self.timeout
                )
            return await self._through_httpx(method, url, body, params, headers)
        except httpx.TransportError as exc:
            text = described(exc)
            if text != str(exc):  # an empty message, or one quoting a link's query
                raise type(exc)(text) from exc
            raise

    async def _through_httpx(
        self,
        method: str,
        url: str,
        body: bytes | None,
        params: tuple[tuple[str, str], ...],
        headers: Mapping[str, str],
    ) -> tuple[int, bytes, Mapping[str, str]]:
        spec = self.timeout
        total = spec.get("total")
        # httpx bounds waiting for a connection and connecting itself: the deadline for the
        # answer starts after both, as on the direct paths.
        deadline = None if total is None else total + (spec["pool"] or 0) + (spec["connect"] or 0)
        headers = {**headers, "Accept-Encoding": ACCEPT_ENCODING}
        with anyio.move_on_after(deadline) as scope:
            async with self.http.stream(
                method, url, content=body, params=params or None, headers=headers
            ) as response:
                raw = await read_capped(response.aiter_raw(), self.max_response_size)
        if scope.cancelled_caught:
            raise httpx.ReadTimeout(f"no complete answer within {total} s")
        body = decompressed(raw, response.headers.get("content-encoding"), self.max_response_size)
        return response.status_code, body, response.headers

    async def aclose(self) -> None:
        """Close the pooled connections, unless the caller owns the httpx client."""
        if self.owned:
            await self.http.aclose()


def _proxy_transport(
    url: str, context: ssl.SSLContext, limits: httpx.Limits
) -> httpx.AsyncBaseTransport:
    try:
        return httpx.AsyncHTTPTransport(proxy=url, verify=context, limits=limits)
    except (ValueError, TypeError, ImportError) as exc:
        raise RequestValidationError(
            "proxy", f"from the environment cannot be used ({exc})", _safe_proxy(url)
        ) from exc


def _safe_proxy(proxy: str | httpx.URL | None) -> str | None:
    """The proxy URL without its password, for messages."""
    if proxy is None:
        return None
    try:
        url = httpx.URL(str(proxy)) if not isinstance(proxy, httpx.URL) else proxy
    except httpx.InvalidURL:
        return "<not a URL>"
    return str(url.copy_with(password=None)) if url.password else str(url)


def _default_transport(
    backend: str, max_connections: int, context: ssl.SSLContext, options: HttpOptions
) -> httpx.AsyncBaseTransport:
    if backend in ("pooled", "aiohttp"):
        kind = PooledTransport if backend == "pooled" else AiohttpTransport
        return kind(
            max_connections=max_connections,
            verify=context,
            keepalive_expiry=options.keepalive_expiry,
            max_response_size=options.max_response_size,
        )
    if backend == "httpx":
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=options.keepalive_expiry,
        )
        return StockTransport(limits=limits, verify=context)
    raise RequestValidationError(
        "http_backend", "must be 'pooled' (default), 'aiohttp' (the fast extra) or 'httpx'"
    )
