"""Which session carries an AsyncClient's requests, chosen once per client.

The retry rules in :class:`~laaffic_async._io.caller.Caller` see only a
:class:`~laaffic_async._io.session.Session`'s answer, ``(status, body, headers)``, or one of
httpx's exceptions, whatever sends the bytes:

* ``http_client=`` from the caller: used as it is (the SDK neither configures nor closes it);
* ``transport=`` from the caller: an httpx transport, used through an ``httpx.AsyncClient``
  the SDK owns; the sandbox's ``SandboxTransport`` is the exception: the default pool
  connects through its in-memory network instead, so tests run the production path;
* ``"pooled"`` (default): ``PooledTransport``, asyncio and trio; httpcore's own pool spends
  CPU per request that grows with connections and waiters (5-17 ms at 100-200 in flight, see
  ``pool.py``), ours stays O(1);
* ``"aiohttp"`` (the ``fast`` extra): ``AiohttpTransport``, asyncio only;
* ``"httpx"``: httpcore's own pool (``StockTransport``), keep-alive limit = the pool size.

The first of our own two skips httpx's client layer (its URL, header, request and response
models cost about 0.13 ms per request, as much as a whole aiohttp request). When a proxy
applies (``proxy=`` or, with ``trust_env``, the ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY``
variables, read with httpx's own rules) the chosen transport is used through an
``httpx.AsyncClient`` whose mounts send proxied origins to httpx's proxy transport, so every
backend honours proxies the same way. Every session reads answers the same way
(``compression.py``): one ``Accept-Encoding``, one size cap, one per-attempt deadline.
"""

from __future__ import annotations

import ssl
from typing import Literal

import attrs
import httpcore
import httpx
from httpx._utils import get_environment_proxies

from .._version import __version__
from ..errors import RequestValidationError
from .aiohttp import AiohttpTransport
from .compression import MAX_RESPONSE_SIZE
from .pool import PooledTransport
from .session import DirectSession, HttpxSession, Session, timeouts
from .stock import StockTransport
from .tls import Verify, ssl_context

__all__ = ["USER_AGENT", "Backend", "HttpOptions", "build_session"]

#: The values ``AsyncClient(http_backend=...)`` accepts.
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


def build_session(
    *,
    backend: Backend,
    max_connections: int,
    timeout: float | httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None,
    http_client: httpx.AsyncClient | None,
    options: HttpOptions | None = None,
) -> Session:
    """The session for an AsyncClient's arguments (see the module docstring)."""
    if backend not in ("pooled", "aiohttp", "httpx"):
        raise RequestValidationError(
            "http_backend", "must be 'pooled' (default), 'aiohttp' (the fast extra) or 'httpx'"
        )
    options = options or HttpOptions()
    spec = timeouts(timeout)
    limit = options.max_response_size
    if http_client is not None:
        return HttpxSession(http_client, owned=False, timeout=spec, max_response_size=limit)
    network = _network_of(transport)
    if transport is not None and not (network is not None and backend == "pooled"):
        if options.proxy is not None:
            raise RequestValidationError(
                "proxy", "cannot be combined with transport= (the transport is used as is)"
            )
        http = _owned_client(transport, timeout)
        return HttpxSession(http, owned=True, timeout=spec, max_response_size=limit)
    context = ssl_context(options.verify)
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=options.keepalive_expiry,
    )
    chosen: PooledTransport | AiohttpTransport | StockTransport
    if backend == "httpx":
        chosen = StockTransport(limits=limits, verify=context)
    elif backend == "aiohttp":
        chosen = AiohttpTransport(
            max_connections=max_connections,
            verify=context,
            keepalive_expiry=options.keepalive_expiry,
            max_response_size=limit,
        )
    else:
        chosen = PooledTransport(
            max_connections=max_connections,
            verify=context,
            keepalive_expiry=options.keepalive_expiry,
            max_response_size=limit,
            network_backend=network,
        )
    proxied = network is None and (options.proxy is not None or _env_mounts(options))
    if isinstance(chosen, StockTransport) or proxied:
        http = _owned_client(chosen, timeout, options, context, limits)
        return HttpxSession(
            http, owned=True, pool_size=max_connections, timeout=spec, max_response_size=limit
        )
    return DirectSession(chosen, spec, pool_size=max_connections)


def _env_mounts(options: HttpOptions) -> dict[str, str | None]:
    """The proxy variables, when ``trust_env`` and no explicit proxy: httpx's own parsing."""
    if not options.trust_env or options.proxy is not None:
        return {}
    return get_environment_proxies()


def _network_of(transport: object) -> httpcore.AsyncNetworkBackend | None:
    """The in-memory network of a sandbox transport, unless a subclass overrides its answers.

    A subclass that overrides ``handle_async_request`` exists to change what the client
    sees, so it is used through httpx where its override runs.
    """
    network = getattr(transport, "network", None)
    handler = getattr(type(transport), "handle_async_request", None)
    if isinstance(network, httpcore.AsyncNetworkBackend) and getattr(
        handler, "answers_like_network", False
    ):
        return network
    return None


def _owned_client(
    transport: httpx.AsyncBaseTransport,
    timeout: float | httpx.Timeout,
    options: HttpOptions | None = None,
    context: ssl.SSLContext | None = None,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    if options is None or context is None or limits is None:
        # The caller's transport is the test seam: used as given, no proxy from the env.
        return httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )
    # httpx reads the proxy variables only when it builds the transport itself, so they are
    # mounted here (None: NO_PROXY, the main transport).
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: None if url is None else _proxy_transport(url, context, limits)
        for pattern, url in _env_mounts(options).items()
    }
    try:
        return httpx.AsyncClient(
            transport=transport,
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
