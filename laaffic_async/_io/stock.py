"""The ``"httpx"`` backend: httpx's own transport, minus one way it desynchronises.

httpcore keeps bytes that arrive after a complete answer in its parser's buffer and reads
them as the answer to the connection's next request: later calls received other requests'
answers (issue 10). This transport closes such a connection when its answer is closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx

from .pool import leftover

__all__ = ["StockTransport"]


class StockTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` that never reuses a connection holding leftover bytes."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        stream = response.extensions.get("network_stream")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CheckedStream(self, response.stream, stream)
        return response

    async def close_if_desynchronised(self, network_stream: Any) -> None:
        """Close the pooled connection on ``network_stream`` if bytes follow its answer."""
        # O(connections), once per answer: httpcore's own pool scans them per request too.
        for connection in list(self._pool.connections):
            http11 = getattr(connection, "_connection", None)
            if getattr(http11, "_network_stream", None) is network_stream:
                if isinstance(http11, httpcore.AsyncHTTP11Connection) and leftover(http11):
                    await connection.aclose()
                return


class _CheckedStream(httpx.AsyncByteStream):
    def __init__(
        self, transport: StockTransport, stream: httpx.AsyncByteStream, network: Any
    ) -> None:
        self._transport = transport
        self._stream = stream
        self._network = network

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()
        if self._network is not None:
            await self._transport.close_if_desynchronised(self._network)
