"""AiohttpTransport: httpx's API over aiohttp's pool and C HTTP parser (the ``fast`` extra).

Why it exists: for many concurrent small calls the machinery under httpx (httpcore's pool, h11
in pure Python) costs more CPU than the call. ``httpx.AsyncClient(transport=AiohttpTransport())``
keeps every httpx feature the SDK uses (timeouts, headers, ``Response``, errors) at about the
cost of aiohttp plus httpx's own client layer. ``benchmarks/bench_dial.py``, 200 in flight:
2,769 requests/s and 0.36 ms client CPU per request, against 283 (3.5 ms) for a default httpx
loop (9.8x) and 6,427 (0.16 ms) for a plain aiohttp loop (0.43x). That last ratio has a floor
under httpx: its client layer alone (URL and header models, cookie extraction, ``Response``)
costs 0.13 ms per request over a transport that does no I/O, about as much as the whole
aiohttp loop. Hence :meth:`AiohttpTransport.exchange`, which ``AsyncClient(http_backend=
"aiohttp")`` uses for its API calls: the same pool and error mapping without httpx's client
layer (send_many at ~0.7x of the plain aiohttp worker loop). Since ``PooledTransport`` writes
and reads its API calls itself (``_core/http1.py``), the default install costs less CPU per
call than this transport: what remains here is aiohttp's own ``ClientSession._request``, which
no public aiohttp API avoids. Its timers do not run for API calls: up to three per request
(about a tenth of the CPU per call) gave way to one sweep of every attempt in flight
(``deadlines.py``). It stays for services already built on aiohttp.

Compared with the ``httpx-aiohttp`` package (0.2) this one is as fast (2,522 requests/s in the
same run) and maps errors as httpx's own transport does (``httpx-aiohttp`` maps every
``ClientConnectionError``, a server disconnect included, to ``ConnectTimeout``), so that package
is not a dependency.

asyncio only: aiohttp does not run on trio; use ``PooledTransport`` there.

Error mapping (most specific first): connect failures (refused, DNS, TLS) -> ``ConnectError``;
connect or pool-wait timeout -> ``ConnectTimeout``; read timeout -> ``ReadTimeout``; server closed
before answering or mid-body, malformed response -> ``RemoteProtocolError``; reset while writing
-> ``WriteError``; other socket errors -> ``ReadError``. aiohttp has no write timeout and does
not separate waiting for a pooled connection from connecting, so ``pool`` timeouts surface as
``ConnectTimeout``, never ``PoolTimeout``. POSTs are never retried; aiohttp itself retries an
idempotent request (GET, PUT, DELETE...) once when a reused keep-alive connection turns out
to be closed.

Idle connections: aiohttp reuses the *oldest* idle connection and checks only that it is
connected, so this module's connector reuses the newest, closes one holding bytes nobody asked
for (they would be read as the next request's answer) and honours the server's
``Keep-Alive: timeout=`` as ``PooledTransport`` does.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import RequestValidationError
from .compression import (
    ACCEPT_ENCODING,
    MAX_RESPONSE_SIZE,
    decompressed,
    read_capped,
)
from .deadlines import Deadlines, Watch
from .failures import described
from .keepalive import KEEPALIVE_MARGIN, timeout_of
from .tls import Verify, ssl_context

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport"]

_SMALL_BODY = 64 * 1024


def _import_aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "AiohttpTransport needs aiohttp: pip install laaffic-async[fast]"
        ) from exc
    return aiohttp


def _exception_table() -> tuple[tuple[type[BaseException], type[httpx.HTTPError]], ...]:
    aiohttp = _import_aiohttp()
    return (
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError, httpx.TimeoutException),
        (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
        (aiohttp.ClientHttpProxyError, httpx.ProxyError),
        (aiohttp.ClientConnectorError, httpx.ConnectError),
        (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
        (aiohttp.ClientConnectionResetError, httpx.WriteError),
        (aiohttp.ClientOSError, httpx.ReadError),
        (aiohttp.ClientConnectionError, httpx.NetworkError),
        (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
        (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
        (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
        (TimeoutError, httpx.TimeoutException),
    )


_TABLE: tuple[tuple[type[BaseException], type[httpx.HTTPError]], ...] = ()


def _raise_mapped(exc: Exception) -> None:
    """Raise ``exc``'s httpx counterpart (chained), if it has one; else return."""
    global _TABLE
    if not _TABLE:
        _TABLE = _exception_table()
    for source, target in _TABLE:
        if isinstance(exc, source):
            raise target(described(exc)) from exc


@functools.cache
def _connector_class() -> Any:
    aiohttp = _import_aiohttp()

    class LifoConnector(aiohttp.TCPConnector):  # type: ignore[misc,name-defined]
        """aiohttp's connector, reusing the newest usable idle connection first."""

        def __init__(self, deadlines: Deadlines, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            #: protocol -> seconds it may idle (its server's Keep-Alive timeout, less a margin)
            self.idle_limit: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
            self.deadlines = deadlines

        async def connect(self, *args: Any, **kwargs: Any) -> Any:
            # The attempt holds a connection: its deadline becomes the answer's (Deadlines).
            connection = await super().connect(*args, **kwargs)
            self.deadlines.connected()
            return connection

        def _get(self, key: Any, traces: list[Any]) -> Any:
            # aiohttp appends released connections on the right and reuses from the left (the
            # oldest, the likeliest to be closed by the server): move the newest usable one
            # to the left first; close unusable ones on the way. Amortised O(1). Not a
            # coroutine: it hands aiohttp's own back to be awaited, one frame fewer a call.
            conns = self._conns.get(key)
            now = time.monotonic()
            limits = self.idle_limit
            while conns:
                proto, released = conns[-1]
                limit = limits.get(proto) if limits else None
                if (
                    proto.is_connected()
                    and not proto.should_close  # unsolicited bytes arrived while idle
                    and (limit is None or now - released <= limit)
                ):
                    if isinstance(conns, collections.deque):  # 3.11+: reused from the left
                        conns.rotate(1)
                    break  # before 3.11 a list, already reused from the right
                conns.pop()
                proto.close()
            return super()._get(key, traces)

    return LifoConnector


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AiohttpTransport())``: HTTP/1.1 through aiohttp.

    ``max_connections`` bounds all connections (aiohttp's connector ``limit``); idle ones close
    after ``keepalive_expiry`` seconds. TLS is verified unless ``verify=False``; pass an
    ``ssl.SSLContext`` for custom CAs. Per-request timeouts come from the request's ``timeout``
    extension (what ``httpx.AsyncClient(timeout=...)`` sets); ``connect_timeout`` is used for
    requests without one. Redirects, cookies and decompression stay with httpx.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        verify: Verify = True,
        connect_timeout: float | None = 15.0,
        keepalive_expiry: float = 5.0,
        max_response_size: int = MAX_RESPONSE_SIZE,
    ) -> None:
        _import_aiohttp()  # fail at construction, not at the first request
        if max_connections < 1:
            raise RequestValidationError("max_connections", "must be at least 1", max_connections)
        self._max = max_connections
        self._verify = verify
        self._connect_timeout = connect_timeout
        self._expiry = keepalive_expiry
        self._max_size = max_response_size
        self._connector: Any = None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._exchange_timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._deadlines = Deadlines()
        self._closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is not None and asyncio._get_running_loop() is self._loop:
            return session  # the usual case, first
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "AiohttpTransport runs on asyncio only (aiohttp has no trio support); "
                "use PooledTransport on trio"
            ) from None
        if self._session is not None:
            if loop is not self._loop:
                raise RuntimeError("AiohttpTransport was first used on another event loop")
            return self._session
        if self._closed:
            raise RuntimeError("AiohttpTransport is closed")
        aiohttp = _import_aiohttp()
        connector = self._connector = _connector_class()(
            self._deadlines,
            limit=self._max,
            limit_per_host=0,
            keepalive_timeout=self._expiry,
            ssl=ssl_context(self._verify),
        )
        self._loop = loop
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            auto_decompress=False,  # httpx decodes Content-Encoding
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        return self._timeout_for(request.extensions.get("timeout"))

    def _timeout_for(self, spec: Mapping[str, float | None] | None) -> aiohttp.ClientTimeout:
        if spec:
            key = (spec.get("pool"), spec.get("connect"), spec.get("read"), spec.get("total"))
        else:
            key = (None, self._connect_timeout, None, None)
        timeout = self._timeouts.get(key)
        if timeout is None:
            pool, connect, read, total = key
            # aiohttp's `connect` covers waiting for a pooled connection plus connecting; its
            # `total` covers everything, so the exchange's own deadline starts after both.
            both = None if pool is None or connect is None else pool + connect
            whole = None if total is None else total + (both or 0.0)
            timeout = _import_aiohttp().ClientTimeout(
                total=whole, connect=both, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._get_session()
        headers = request.headers
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream
            headers = headers.copy()
            headers.pop("transfer-encoding", None)  # aiohttp chunks the stream itself
        try:
            response = await session.request(
                request.method,
                str(request.url),
                # Not multi_items(): httpx recomputes the header encoding per item (O(n^2)).
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw],
                data=data,
                allow_redirects=False,
                timeout=self._timeout(request),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except Exception as exc:
            _raise_mapped(exc)
            raise
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_ResponseStream(response),
            extensions=extensions,
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
        """One small request straight through aiohttp: ``(status, body, headers)``.

        ``AsyncClient(http_backend="aiohttp")`` sends its API calls here rather than through
        ``httpx.AsyncClient``: httpx's client layer (URL, header, request and response models)
        costs about 0.13 ms per request, as much as a whole aiohttp request (see
        ``benchmarks/bench_dial.py``). Errors are the same httpx exceptions as
        :meth:`handle_async_request` raises, so the retry rules see no difference. The body is
        read whole (the API answers small JSON, at most ``max_response_size`` bytes) and the
        connection goes back to the pool. ``timeout`` is ``httpx.Timeout(...).as_dict()``,
        plus ``"total"``: the deadline once connected (``PooledTransport.exchange``).
        """
        session = self._get_session()
        watch = self._watch(timeout)
        response = None
        try:
            # Awaited, not `async with`: its four coroutines and second release() were ~1 us a
            # call; a small answer read whole has released its connection already, and the
            # `finally` releases (or closes) it otherwise.
            response = await session.request(
                method,
                url,
                params=params or None,
                headers={**headers, "Accept-Encoding": ACCEPT_ENCODING},
                data=content,
                allow_redirects=False,
                timeout=self._exchange_timeout(timeout),
            )
            advertised = response.headers.get("Keep-Alive")  # a C lookup, not a loop
            keepalive = None if advertised is None else timeout_of(advertised.encode("latin-1"))
            # The protocol, not response.connection: a small answer read whole with its
            # headers has already given its connection back.
            protocol = getattr(response, "_protocol", None)
            if keepalive is not None and protocol is not None:
                self._connector.idle_limit[protocol] = keepalive - KEEPALIVE_MARGIN
            length = response.content_length
            if length is not None and length <= self._max_size:
                body = await response.read()  # one read for the small JSON answers
            else:
                body = await read_capped(response.content.iter_chunked(65536), self._max_size)
            encoding = response.headers.get("Content-Encoding")
            body = decompressed(body, encoding, self._max_size)
            return response.status, body, response.headers
        except BaseException as exc:
            if watch is not None and watch.fired is not None:
                phase = watch.expired()
                if phase is not None:
                    raise _timed_out(phase, timeout) from None
            if isinstance(exc, httpx.HTTPError) or not isinstance(exc, Exception):
                raise
            _raise_mapped(exc)
            raise
        finally:
            if watch is not None:
                self._deadlines.forget(watch)
            if response is not None:
                response.release()

    def _watch(self, spec: Mapping[str, float | None]) -> Watch | None:
        """The attempt's deadlines (:mod:`.deadlines`), or None when it has none."""
        pool, connect, total = spec.get("pool"), spec.get("connect"), spec.get("total")
        holding = None if pool is None or connect is None else pool + connect
        if holding is None and total is None:
            return None
        return self._deadlines.watch(holding, total)

    def _exchange_timeout(self, spec: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        """aiohttp's part of an exchange's timeouts: the socket connect, no timer per request.

        The deadlines (waiting plus connecting, then the whole answer) are :meth:`_watch`'s.
        A read limit shorter than the answer's deadline still needs aiohttp's read timer.
        """
        connect, read, total = spec.get("connect"), spec.get("read"), spec.get("total")
        if read is not None and total is not None and read >= total:
            read = None  # the answer's deadline ends any read that long first
        key = (connect, read)
        timeout = self._exchange_timeouts.get(key)
        if timeout is None:
            timeout = _import_aiohttp().ClientTimeout(
                total=None, connect=None, sock_connect=connect, sock_read=read
            )
            self._exchange_timeouts[key] = timeout
        return timeout

    async def aclose(self) -> None:
        """Close the aiohttp session and every connection it holds."""
        self._closed = True
        self._deadlines.close()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _timed_out(phase: str, spec: Mapping[str, float | None]) -> httpx.TimeoutException:
    """The httpx timeout for a deadline that ran out (see :mod:`.deadlines`)."""
    if phase == "connect":
        waited = (spec.get("pool") or 0.0) + (spec.get("connect") or 0.0)
        return httpx.ConnectTimeout(f"no connection within {waited} s")
    return httpx.ReadTimeout(f"no complete answer within {spec.get('total')} s")


class _ResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        response = self._response
        try:
            length = response.content_length
            if length is not None and length <= _SMALL_BODY:
                # One read for the small JSON answers that are the SDK's traffic.
                yield await response.read()
            else:
                async for chunk in response.content.iter_chunked(_SMALL_BODY):
                    yield chunk
        except Exception as exc:
            _raise_mapped(exc)
            raise

    async def aclose(self) -> None:
        # Returns the connection to aiohttp's pool if the body was read to the end, else
        # closes it (aiohttp checks the parser state), so cancellation cannot leak it.
        self._response.release()
