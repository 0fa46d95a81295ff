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
* ``"httpx"``: httpcore's own pool, with its keep-alive limit equal to the pool size.

The first of our own two skips httpx's client layer (its URL, header, request and response
models cost about 0.13 ms per request, as much as a whole aiohttp request).
"""

from __future__ import annotations

from typing import Literal

import httpcore
import httpx

from .._version import __version__
from ..errors import RequestValidationError
from .aiohttp import AiohttpTransport
from .pool import PooledTransport
from .session import DirectSession, HttpxSession, Session

__all__ = ["USER_AGENT", "Backend", "build_session"]

#: The values ``AsyncClient(http_backend=...)`` accepts.
Backend = Literal["pooled", "aiohttp", "httpx"]

#: Sent on every request of a client the SDK builds, whatever path carries it.
USER_AGENT = f"laaffic-async/{__version__}"


def build_session(
    *,
    backend: Backend,
    max_connections: int,
    timeout: float | httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None,
    http_client: httpx.AsyncClient | None,
) -> Session:
    """The session for an AsyncClient's arguments (see the module docstring)."""
    if backend not in ("pooled", "aiohttp", "httpx"):
        raise RequestValidationError(
            "http_backend", "must be 'pooled' (default), 'aiohttp' (the fast extra) or 'httpx'"
        )
    spec = httpx.Timeout(timeout).as_dict()
    if http_client is not None:
        return HttpxSession(http_client, owned=False)
    network = _network_of(transport)
    if transport is not None and not (network is not None and backend == "pooled"):
        return HttpxSession(_owned_client(transport, timeout), owned=True)
    if backend == "httpx":
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        chosen = httpx.AsyncHTTPTransport(limits=limits, verify=True)
        return HttpxSession(_owned_client(chosen, timeout), owned=True, pool_size=max_connections)
    direct: PooledTransport | AiohttpTransport
    if backend == "aiohttp":
        direct = AiohttpTransport(max_connections=max_connections, verify=True)
    else:
        direct = PooledTransport(
            max_connections=max_connections, verify=True, network_backend=network
        )
    return DirectSession(direct, spec, pool_size=max_connections)


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
    transport: httpx.AsyncBaseTransport, timeout: float | httpx.Timeout
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        # Proxies from the environment only when the caller builds the client.
        trust_env=False,
    )
