"""An httpx transport that carries requests to an in-process :class:`Sandbox`.

It is ``httpx.ASGITransport`` plus the two things a socket would do that an
in-process call cannot: refuse a connection (nothing reaches the sandbox)
and drop one mid-answer (the sandbox did the work, the client sees
``httpx.RemoteProtocolError``).
"""

from __future__ import annotations

import httpx

from ._app import ConnectionDropped, Sandbox
from ._network import SandboxNetwork


class SandboxTransport(httpx.AsyncBaseTransport):
    """Send requests straight into ``sandbox``, with its network faults.

    ``connects`` counts the simulated connection attempts, refused ones included.

    Handed to :class:`~laaffic_async.AsyncClient` as ``transport=``, it is not used as an
    httpx transport: the client's own connection pool connects through :attr:`network`, an
    in-memory network to the same sandbox, so tests run the production path. Used with a
    plain ``httpx.AsyncClient`` it answers as ``httpx.ASGITransport`` would, and so does a
    subclass that overrides :meth:`handle_async_request` (to change answers in a test).
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.connects = 0
        self._asgi = httpx.ASGITransport(app=sandbox)
        #: The in-memory network the SDK's own pool connects through.
        self.network = SandboxNetwork(sandbox, on_connect=self._count)

    def _count(self) -> None:
        self.connects += 1

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

    # What this method answers is what the in-memory network answers: the SDK may connect
    # through ``network`` instead. A subclass overriding it is used through httpx.
    handle_async_request.answers_like_network = True  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self._asgi.aclose()
