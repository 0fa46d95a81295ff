"""An httpx transport that carries requests to an in-process :class:`Sandbox`.

It is ``httpx.ASGITransport`` plus the two things a socket would do that an
in-process call cannot: refuse a connection (nothing reaches the sandbox)
and drop one mid-answer (the sandbox did the work, the client sees
``httpx.RemoteProtocolError``).
"""

from __future__ import annotations

import httpx

from ._app import ConnectionDropped, Sandbox


class SandboxTransport(httpx.AsyncBaseTransport):
    """Send requests straight into ``sandbox``, with its network faults.

    ``connects`` counts the simulated connection attempts, refused ones included.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.connects = 0
        self._asgi = httpx.ASGITransport(app=sandbox)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.connects += 1
        faults = self.sandbox.faults
        if faults.refuse_connections > 0:
            faults.refuse_connections -= 1
            raise httpx.ConnectError(
                "[Errno 111] Connection refused (sandbox fault)", request=request
            )
        try:
            return await self._asgi.handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                f"Server disconnected without sending a complete response ({exc})", request=request
            ) from None

    async def aclose(self) -> None:
        await self._asgi.aclose()
