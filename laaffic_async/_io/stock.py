"""The ``"httpx"`` backend: httpx's own transport, minus two ways it goes stale.

httpcore keeps bytes that arrive after a complete answer in its parser's buffer and reads
them as the answer to the connection's next request: later calls received other requests'
answers (issue 10). And it ignores a server's ``Keep-Alive: timeout=``. When an answer is
closed, this transport finds its pooled connection, closes it if bytes follow the answer,
and otherwise moves its expiry to ``KEEPALIVE_MARGIN`` before the advertised timeout.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx

from .keepalive import KEEPALIVE_MARGIN, keepalive_timeout, leftover

__all__ = ["StockTransport"]


class StockTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` that never reuses a connection holding leftover bytes."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        network = response.extensions.get("network_stream")
        keepalive = keepalive_timeout(response.headers.raw)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CheckedStream(self, response.stream, network, keepalive)
        return response

    async def after_answer(self, network_stream: Any, keepalive: float | None) -> None:
        """Close or re-time the pooled connection on ``network_stream`` (see the module)."""
        # O(connections), once per answer: httpcore's own pool scans them per request too.
        for connection in list(self._pool.connections):
            http11 = getattr(connection, "_connection", None)
            if getattr(http11, "_network_stream", None) is not network_stream:
                continue
            if not isinstance(http11, httpcore.AsyncHTTP11Connection):
                return
            if leftover(http11):
                await connection.aclose()
            elif keepalive is not None and http11.is_idle():
                expire = time.monotonic() + keepalive - KEEPALIVE_MARGIN
                current = getattr(http11, "_expire_at", None)
                if current is None or expire < current:
                    http11._expire_at = expire
            return


class _CheckedStream(httpx.AsyncByteStream):
    def __init__(
        self,
        transport: StockTransport,
        stream: httpx.AsyncByteStream,
        network: Any,
        keepalive: float | None,
    ) -> None:
        self._transport = transport
        self._stream = stream
        self._network = network
        self._keepalive = keepalive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()
        if self._network is not None:
            await self._transport.after_answer(self._network, self._keepalive)
