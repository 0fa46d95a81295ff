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

__all__ = ["Link", "exchange_on", "network_backend", "raise_mapped"]

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


async def exchange_on(link: Link, request: bytes, reader: AnswerReader) -> None:
    """Send ``request`` on ``link`` and read until ``reader`` holds the whole answer.

    Raises httpx's transport exceptions, and
    :class:`~laaffic_async._io.compression.AnswerTooLarge` past the reader's limit. The
    connection must be closed, not reused, after any exception (and when the reader says
    it is not ``reusable``).
    """
    receive, send, broken = link.receive, link.send, link.broken
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


class Link:
    """One pooled connection's network stream, and how to talk to it and check it.

    Worked out once, when the connection opens: which stream methods
    :func:`exchange_on` calls (:func:`_raw`), the raw socket :meth:`readable` polls, and
    whether anyio's asyncio protocol holds what arrives (reading left on, see
    :func:`_asyncio_io`).
    """

    __slots__ = ("_protocol", "_socket_stream", "broken", "receive", "send", "sock", "stream")

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self.stream = stream
        # No socket (an in-memory network): the stream itself answers "is_readable".
        self.sock: Any = stream.get_extra_info("socket") or stream
        self.receive, self.send, self.broken = _raw(stream)
        inner: Any = getattr(stream, "_stream", None)
        direct = type(stream).__module__ == "httpcore._backends.anyio" and _direct(inner)
        self._socket_stream: Any = inner if direct else None
        self._protocol: Any = inner._protocol if direct else None

    def readable(self) -> bool:
        """An idle HTTP/1.1 connection with something to read can only be at EOF (or garbage)."""
        protocol = self._protocol
        if protocol is not None:
            # Reading stays on (see _asyncio_io): what arrived may be in the protocol already.
            if protocol.read_queue or protocol.is_at_eof or protocol.exception is not None:
                return True
            inner = self._socket_stream
            if inner._closed or inner._transport.is_closing():
                return True
        return _socket_readable(self.sock)


_Raw = tuple[
    Callable[[int], Awaitable[bytes]],
    Callable[[bytes], Awaitable[None]],
    tuple[type[BaseException], ...],
]


def _raw(stream: httpcore.AsyncNetworkStream) -> _Raw:
    """(receive, send, the exceptions that mean a broken connection) for ``stream``."""
    inner: Any = getattr(stream, "_stream", None)
    if type(stream).__module__ == "httpcore._backends.anyio" and inner is not None:
        direct = _asyncio_io(inner)
        if direct is not None:
            return *direct, _ANYIO_BROKEN
        return inner.receive, inner.send, _ANYIO_BROKEN
    if type(stream).__module__ == "httpcore._backends.trio" and inner is not None:
        import trio  # only reached on trio

        return (
            inner.receive_some,
            inner.send_all,
            (trio.BrokenResourceError, trio.ClosedResourceError),
        )
    return stream.read, stream.write, ()


def _asyncio_io(inner: Any) -> tuple[Receive, Send] | None:
    """Read and write anyio's asyncio socket stream as anyio does, less the loop's overhead.

    anyio's ``send`` yields to the event loop once more after writing (a shielded
    checkpoint), and its ``receive`` resumes and pauses the transport's reading around
    every wait: a trip round the loop and two ``epoll_ctl`` calls per request. Here
    writing returns once the bytes are with the transport (waiting only while its buffer
    is full: the caller checks for cancellation before every attempt, and nothing here
    yields before the write), and reading stays on once started, so the protocol, not the
    kernel, holds what arrives on an idle connection: :meth:`Link.readable` looks there.
    None for another stream (TLS, another anyio), which keeps anyio's own methods.
    """
    if not _direct(inner):
        return None
    transport = inner._transport
    protocol = inner._protocol

    def check() -> None:
        if inner._closed:
            raise anyio.ClosedResourceError
        if protocol.exception is not None:
            raise anyio.BrokenResourceError from protocol.exception

    async def send(data: bytes) -> None:
        if not protocol.write_event.is_set():  # paused by flow control: wait for room
            await protocol.write_event.wait()
        check()
        if transport.is_closing():
            raise anyio.BrokenResourceError
        transport.write(data)
        if not protocol.write_event.is_set():  # a new event each time writing pauses
            await protocol.write_event.wait()
            check()

    async def receive(max_bytes: int) -> bytes:
        queue = protocol.read_queue
        while not queue:
            check()
            if protocol.is_at_eof or transport.is_closing():
                return b""
            if not transport.is_reading():
                transport.resume_reading()
            protocol.read_event.clear()
            await protocol.read_event.wait()
        chunk: bytes = queue.popleft()
        if not queue:
            protocol.read_event.clear()
        return chunk

    return receive, send


def _direct(inner: Any) -> bool:
    """Whether ``inner`` is anyio's asyncio socket stream as :func:`_asyncio_io` knows it."""
    return (
        type(inner).__name__ == "SocketStream"
        and type(inner).__module__ == "anyio._backends._asyncio"
        and getattr(inner, "_transport", None) is not None
        and all(hasattr(getattr(inner, "_protocol", None), name) for name in _PROTOCOL_STATE)
    )


_PROTOCOL_STATE = ("read_queue", "read_event", "write_event", "exception", "is_at_eof")
Receive = Callable[[int], Awaitable[bytes]]
Send = Callable[[bytes], Awaitable[None]]


_ANYIO_BROKEN: tuple[type[BaseException], ...] = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)


def _socket_readable(sock: Any) -> bool:
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
