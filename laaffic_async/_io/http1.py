"""One API call on one pooled connection, and the connection-level helpers of the pool.

:func:`exchange_on` writes the request that :func:`~laaffic_async._core.http1.encode_request`
built and feeds what comes back to an :class:`~laaffic_async._core.http1.AnswerReader`.
What it saves against httpcore's HTTP/1.1 connection (``benchmarks/bench_dial.py``, the
default install at 200 in flight): h11's per-event objects and header validation, and a
cancel scope plus a generator context manager around every read and write (the caller's
one deadline bounds the whole exchange). On httpcore's anyio and trio streams it talks to
the underlying stream directly; any other network stream (the sandbox's in-memory network)
goes through the stream's own ``read``/``write``. Failures are the httpx exceptions
httpcore's connection raises for the same events, so the caller's retry rules see no
difference: ``WriteError``/``ReadError`` for a broken connection, ``RemoteProtocolError``
for a malformed answer or one cut short.
"""

from __future__ import annotations

import select
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpcore
import httpx

from .._core.http1 import AnswerReader, AnswerTooLong, BadAnswer
from .compression import AnswerTooLarge
from .failures import described

__all__ = ["exchange_on", "network_backend", "raise_mapped", "readable"]

_READ = 65536

# httpx's own table (httpx/_transports/default.py), applied the same way: the most specific
# match wins, the message is kept and the httpcore exception chained.
_EXC_MAP: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


def raise_mapped(exc: Exception) -> None:
    """Raise ``exc``'s httpx counterpart (chained), if it has one; else return."""
    target: type[httpx.HTTPError] | None = None
    for source, candidate in _EXC_MAP.items():
        if isinstance(exc, source) and (target is None or issubclass(candidate, target)):
            target = candidate
    if target is not None:
        raise target(described(exc)) from exc


async def exchange_on(
    stream: httpcore.AsyncNetworkStream, request: bytes, reader: AnswerReader
) -> None:
    """Send ``request`` on ``stream`` and read until ``reader`` holds the whole answer.

    Raises httpx's transport exceptions, and
    :class:`~laaffic_async._io.compression.AnswerTooLarge` past the reader's limit. The
    connection must be closed, not reused, after any exception (and when the reader says
    it is not ``reusable``).
    """
    receive, send, broken = _raw(stream)
    try:
        await send(request)
    except broken as exc:
        raise httpx.WriteError(described(exc) or "connection lost while sending") from exc
    except httpcore.NetworkError as exc:
        raise_mapped(exc)
        raise
    try:
        while not reader.done:
            try:
                data = await receive(_READ)
            except anyio.EndOfStream:
                data = b""
            except broken as exc:
                raise httpx.ReadError(described(exc) or "connection lost while reading") from exc
            except httpcore.NetworkError as exc:
                raise_mapped(exc)
                raise
            if data:
                reader.feed(data)
            else:
                reader.feed_eof()
    except BadAnswer as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except AnswerTooLong as exc:
        raise AnswerTooLarge(
            f"answer larger than max_response_size ({reader.limit} bytes)"
        ) from exc


_Raw = tuple[
    Callable[[int], Awaitable[bytes]],
    Callable[[bytes], Awaitable[None]],
    tuple[type[BaseException], ...],
]


def _raw(stream: httpcore.AsyncNetworkStream) -> _Raw:
    """(receive, send, the exceptions that mean a broken connection) for ``stream``."""
    inner: Any = getattr(stream, "_stream", None)
    if type(stream).__module__ == "httpcore._backends.anyio" and inner is not None:
        return inner.receive, _asyncio_send(inner) or inner.send, _ANYIO_BROKEN
    if type(stream).__module__ == "httpcore._backends.trio" and inner is not None:
        import trio  # only reached on trio

        return (
            inner.receive_some,
            inner.send_all,
            (trio.BrokenResourceError, trio.ClosedResourceError),
        )
    return stream.read, stream.write, ()


def _asyncio_send(inner: Any) -> Callable[[bytes], Awaitable[None]] | None:
    """anyio's asyncio socket stream, written to as anyio does, less one loop pass.

    After writing, anyio's ``send`` yields to the event loop once (a shielded checkpoint)
    when it had not waited: a full trip round the loop per request. The caller checks
    for cancellation before every attempt, and nothing here yields before the write, so
    this writes and returns, waiting only while the transport's buffer is full. None for
    another stream (TLS, another anyio), which keeps anyio's own ``send``.
    """
    transport = getattr(inner, "_transport", None)
    protocol: Any = getattr(inner, "_protocol", None)
    write_event = getattr(protocol, "write_event", None)
    if type(inner).__name__ != "SocketStream" or transport is None or write_event is None:
        return None

    async def send(data: bytes) -> None:
        if not write_event.is_set():  # paused by flow control: wait for room
            await write_event.wait()
        if inner._closed or transport.is_closing():
            raise anyio.ClosedResourceError
        if protocol.exception is not None:
            raise anyio.BrokenResourceError from protocol.exception
        transport.write(data)
        if not write_event.is_set():
            await write_event.wait()

    return send


_ANYIO_BROKEN: tuple[type[BaseException], ...] = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)


def readable(sock: Any) -> bool:
    """An idle HTTP/1.1 socket with something to read can only be at EOF (or garbage)."""
    if isinstance(sock, httpcore.AsyncNetworkStream):  # no socket: the stream knows
        return bool(sock.get_extra_info("is_readable"))
    try:
        fd = sock.fileno()
    except (AttributeError, OSError):
        return True
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def network_backend() -> httpcore.AsyncNetworkBackend:
    """httpcore's trio backend on trio, its anyio backend on asyncio."""
    try:
        import sniffio
    except ImportError:  # pragma: no cover - sniffio is a declared dependency
        return httpcore.AnyIOBackend()
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:  # pragma: no cover
        library = "asyncio"
    return httpcore.TrioBackend() if library == "trio" else httpcore.AnyIOBackend()
