"""The few ASGI chores the push receiver needs, without a web framework.

The receiver stays a plain ASGI callable (mountable anywhere, no framework
dependency), so reading a bounded body, answering, and speaking the lifespan
protocol are done by hand here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "REASONS",
    "Disconnected",
    "Message",
    "Receive",
    "Responder",
    "Scope",
    "Send",
    "header_map",
    "read_body",
    "serve_lifespan",
]

log = logging.getLogger("laaffic_async.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Short bodies for the refusals.
REASONS = {
    400: b"bad request",
    403: b"forbidden",
    404: b"not found",
    405: b"method not allowed",
    413: b"body too large",
    500: b"internal error",
    503: b"unavailable",
}


class Disconnected(Exception):
    """The sender went away mid-body: nothing to answer, nothing recorded."""


def header_map(scope: Scope) -> dict[str, str]:
    """The request headers, names lower-cased (a repeated header keeps its last value)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it grows past ``limit`` (counted while reading)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Responder:
    """Sends one small answer; remembers whether it started one."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, status: int, body: bytes | None = None, allow: bool = False) -> None:
        """Answer ``status`` with ``body`` (JSON for 200, else text; ``allow``: add Allow)."""
        self.started = True
        body = REASONS.get(status, b"") if body is None else body
        headers = [
            (b"content-type", b"application/json" if status == 200 else b"text/plain"),
            (b"content-length", str(len(body)).encode()),
        ]
        if allow:
            headers.append((b"allow", b"POST"))
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})


async def serve_lifespan(
    receive: Receive,
    send: Send,
    start: Callable[[], Awaitable[object]],
    stop: Callable[[], Awaitable[object]],
) -> None:
    """Run ``start`` on startup and ``stop`` on shutdown, in this one task.

    One task on purpose: ``start`` may open a task group that ``stop``
    closes, and task groups must be entered and left by the same task.
    """
    message = await receive()
    if message["type"] != "lifespan.startup":
        return
    try:
        await start()
    except Exception as exc:
        log.exception("push receiver failed to start")
        await send({"type": "lifespan.startup.failed", "message": str(exc)})
        return
    try:
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
    finally:
        await stop()
    await send({"type": "lifespan.shutdown.complete"})
