"""The sandbox as a plain ASGI application.

It checks what the platform checks, in the platform's order: the Api-Key
and Sign (-1), the Timestamp within half an hour (-16), a JSON body (-18),
then the endpoint's own rules.  Faults are applied around the handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import anyio

from . import _callcenter, _recordings, _voice
from ._faults import Faults
from ._routes import RawResponse, Request, Route
from ._state import TIMESTAMP_TOLERANCE, SandboxState
from ._wire import ApiFailure, envelope, expected_sign

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("laaffic_async.sandbox")

#: Every route the sandbox serves; other endpoint modules add theirs here.
ROUTES: list[Route] = [*_voice.ROUTES, *_callcenter.ROUTES, *_recordings.ROUTES]


class ConnectionDropped(Exception):
    """Raised after the answer has started, to make the server drop the connection.

    Over a real socket uvicorn then closes it mid-answer; in-process,
    :class:`~laaffic_async.testing.SandboxTransport` turns it into the
    ``httpx.RemoteProtocolError`` a client would see.
    """


class Sandbox:
    """An ASGI emulator of the Laaffic voice API.

    Accepts the vendor's sample credentials (Api-Key ``bDqJFiq9``, secret
    ``7bz1lzh9``, appId ``4luaKsL2``) by default, so the vendor's own samples
    run against it with only the URL changed::

        sandbox = Sandbox()
        transport = SandboxTransport(sandbox)
        client = AsyncClient("bDqJFiq9", "7bz1lzh9", app_id="4luaKsL2",
                             base_url="http://sandbox/v3", transport=transport)

    ``sandbox.state`` holds what it remembers (records, dial counters, peak
    in-flight requests); ``sandbox.faults`` switches failures on and off.
    Call records are paged newest first; ``Sandbox(SandboxState(unstable_ties=True))``
    orders the records of one submit second at random on every query, as a
    database sorting by ``submitTime`` alone may (see :class:`SandboxState`).
    """

    def __init__(
        self,
        state: SandboxState | None = None,
        faults: Faults | None = None,
        *,
        routes: list[Route] | None = None,
    ) -> None:
        self.state = state if state is not None else SandboxState()
        self.faults = faults if faults is not None else Faults()
        self.routes = list(ROUTES if routes is None else routes)

    def __repr__(self) -> str:
        return f"Sandbox(records={len(self.state.records)}, dials={self.state.dials})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        for route in self.routes:
            tail = route.match(method, path)
            if tail is not None:
                break
        else:
            await _respond(send, 404, b'{"error":"not found"}', "application/json", self._date())
            return
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        request = Request(method, route.endpoint, tail, query, body, headers)
        state = self.state
        state.requests[route.endpoint] += 1
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        account = _voice.account_of(request) if route.endpoint == _voice.SEND_SIP else None
        if account is not None:
            state.account_in_flight[account] += 1
            busiest = state.account_in_flight[account]
            state.peak_account_in_flight = max(state.peak_account_in_flight, busiest)
        try:
            await self._handle(route, request, send)
        finally:
            state.in_flight -= 1
            if account is not None:
                state.account_in_flight[account] -= 1
                if not state.account_in_flight[account]:
                    del state.account_in_flight[account]

    async def _handle(self, route: Route, request: Request, send: Send) -> None:
        faults = self.faults
        faulty = faults.applies(route.endpoint)
        if faults.latency or faults.jitter:
            await anyio.sleep(faults.delay())
        if faulty and faults.roll(faults.drop_before_rate):
            await _start(send, 200, "application/json", self._date(), 64)
            raise ConnectionDropped(f"{route.endpoint}: dropped before handling")
        if faulty and faults.roll(faults.error_rate):
            status = faults.error_status
            await _respond(send, status, b"Server Error", "text/plain", self._date())
            return
        try:
            if route.signed:
                self._authenticate(request.headers)
            result = route.handler(self.state, request)
        except ApiFailure as failure:
            answer = envelope(status=failure.status, reason=failure.reason)
            await _respond(send, 200, answer, "application/json", self._date())
            return
        if faulty and faults.roll(faults.drop_rate):
            # The work is done (a dial is counted); the client never hears of it.
            await _start(send, 200, "application/json", self._date(), 64)
            raise ConnectionDropped(f"{route.endpoint}: dropped after handling")
        if isinstance(result, RawResponse):
            await _respond(send, result.status, result.body, result.content_type, self._date())
        else:
            await _respond(send, 200, envelope(result), "application/json", self._date())

    def _authenticate(self, headers: dict[str, str]) -> None:
        api_key = headers.get("api-key", "")
        timestamp = headers.get("timestamp", "")
        secret = self.state.credentials.get(api_key)
        if secret is None or headers.get("sign", "").lower() != expected_sign(
            api_key, secret, timestamp
        ):
            raise ApiFailure("-1", "Authentication error")
        try:
            stamp = int(timestamp)
        except ValueError:
            raise ApiFailure("-16", "Timestamp expires") from None
        if abs(self.state.clock() - stamp) > TIMESTAMP_TOLERANCE:
            raise ApiFailure("-16", "Timestamp expires")

    def _date(self) -> bytes:
        return formatdate(self.state.clock(), usegmt=True).encode()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _start(send: Send, status: int, content_type: str, date: bytes, length: int) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(length).encode()),
                (b"date", date),
            ],
        }
    )


async def _respond(send: Send, status: int, body: bytes, content_type: str, date: bytes) -> None:
    await _start(send, status, content_type, date, len(body))
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
