"""An in-memory network: the client's own connection pool talks HTTP/1.1 to the sandbox.

:class:`SandboxNetwork` is an httpcore network backend. The SDK's default transport
(``PooledTransport``) connects through it exactly as it connects through TCP, so in-process
tests run the production path (request framing, keep-alive reuse, the idle check, error
mapping) with no socket. Each connection is served by h11 on the server side, in the
client's own task: when a request is complete the sandbox's ASGI app runs and its answer is
queued for the client to read. A dropped connection (:class:`ConnectionDropped`) is an
end-of-stream after the work was done, as a real server's crash would look; a refused
connection raises httpcore's ``ConnectError`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import anyio
import anyio.lowlevel
import h11
import httpcore

from ._app import ConnectionDropped, Message, Sandbox

__all__ = ["SandboxNetwork"]


class SandboxNetwork(httpcore.AsyncNetworkBackend):
    """Connections that lead into ``sandbox``; ``on_connect`` runs once per connection."""

    def __init__(self, sandbox: Sandbox, on_connect: Callable[[], None] | None = None) -> None:
        self.sandbox = sandbox
        self._on_connect = on_connect

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        await anyio.lowlevel.checkpoint()
        if self._on_connect is not None:
            self._on_connect()
        faults = self.sandbox.faults
        if faults.refuse_connections > 0:
            faults.refuse_connections -= 1
            raise httpcore.ConnectError("[Errno 111] Connection refused (sandbox fault)")
        return _ServerStream(self.sandbox, host, port)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the sandbox network has no unix sockets")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class _ServerStream(httpcore.AsyncNetworkStream):
    """The client's end of one connection; the server's end runs inside :meth:`write`."""

    def __init__(self, sandbox: Sandbox, host: str, port: int) -> None:
        self._sandbox = sandbox
        self._server = (host, port)
        self._h11 = h11.Connection(h11.SERVER)
        self._out = bytearray()
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._eof = False
        self._closed = False

    async def write(
        self,
        buffer: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
    ) -> None:
        await anyio.lowlevel.checkpoint()
        if self._closed or self._eof:
            raise httpcore.WriteError("the sandbox closed this connection")
        try:
            self._h11.receive_data(buffer)
            while True:
                event = self._h11.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Request):
                    self._request, self._body = event, bytearray()
                elif isinstance(event, h11.Data):
                    self._body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    await self._serve()
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    self._eof = True
                    return
        except h11.RemoteProtocolError as exc:
            self._out += b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
            self._eof = True
            raise httpcore.WriteError(f"the sandbox refused a malformed request: {exc}") from exc

    async def _serve(self) -> None:
        request = self._request
        assert request is not None
        target = request.target
        path, _, query = target.partition(b"?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method.decode("ascii"),
            "scheme": "http",
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers],
            "client": ("127.0.0.1", 50000),
            "server": self._server,
        }
        body = bytes(self._body)
        delivered = False
        started: list[Message] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal delivered
            if delivered:
                await anyio.sleep_forever()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message)
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        try:
            await self._sandbox(scope, receive, send)
        except ConnectionDropped:
            # The server goes away mid-answer: the client reads end-of-stream.
            self._eof = True
            return
        if not started:
            self._eof = True
            return
        start = started[0]
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
        data = self._h11.send(h11.Response(status_code=start["status"], headers=headers))
        self._out += data
        for chunk in chunks:
            if chunk:
                self._out += self._h11.send(h11.Data(data=chunk))
        self._out += self._h11.send(h11.EndOfMessage())
        if self._h11.our_state is h11.MUST_CLOSE:
            self._eof = True
        else:
            self._h11.start_next_cycle()

    async def read(
        self,
        max_bytes: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
    ) -> bytes:
        await anyio.lowlevel.checkpoint()
        if self._closed:
            raise httpcore.ReadError("connection closed")
        if not self._out:
            self._eof = True  # nothing more will come: the server is done with us
            return b""
        chunk = bytes(self._out[:max_bytes])
        del self._out[:max_bytes]
        return chunk

    async def aclose(self) -> None:
        self._closed = True

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
    ) -> httpcore.AsyncNetworkStream:
        # The in-memory network has no TLS to speak: an https URL talks plain HTTP to it.
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle connection with something to read is at EOF (or garbage): not reusable.
            return self._eof or bool(self._out) or self._closed
        if info == "server_addr":
            return self._server
        if info == "client_addr":
            return ("127.0.0.1", 50000)
        return None
