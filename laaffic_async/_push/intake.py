"""One push request, from bytes to recorded events: check, read, parse, admit, answer.

:class:`~laaffic_async.webhooks.PushReceiver` owns the lifecycle (spool, dispatcher, start and
stop); every http request of its ASGI app passes through an :class:`Intake`, which answers 200
only once the spool has admitted the push, and 503 when it cannot, so the platform retries.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import attrs

from .._core.push_guard import PushGuard
from .._core.pushes import ParsedPush, PushFormatError, parse_push
from .._io.instrument import Instrumentation
from .asgi import Disconnected, Receive, Responder, Scope, Send, header_map, read_body
from .delivery import Counters, Dispatcher
from .spool import Spool

__all__ = ["ACK", "Intake", "Session", "Unavailable"]

log = logging.getLogger("laaffic_async.webhooks")

#: The platform's success envelope, the answer to a recorded push.
ACK = b'{"status":"0","reason":"success"}'


class Unavailable(Exception):
    """The receiver cannot take pushes now: answer 503 so the platform retries."""


@attrs.define
class Session:
    """One run of a receiver: its open spool and the dispatcher handling what it admits."""

    spool: Spool
    dispatcher: Dispatcher
    background: bool
    closing: bool = False


@attrs.frozen
class Intake:
    """What every push request of one receiver passes; ``session`` opens or returns its run."""

    guard: PushGuard
    counters: Counters
    instrumentation: Instrumentation
    clock: Callable[[], float]
    session: Callable[[], Awaitable[Session]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one http push; run its events here when nothing runs them in the background."""
        respond = Responder(send)
        try:
            session = await self._accept(scope, receive, respond)
            if session is not None and not session.background and not session.dispatcher.hosted:
                await session.dispatcher.serve(until_idle=True)
        except Disconnected:
            return
        except Exception:
            log.exception("push receiver failed on a request")
            if not respond.started:
                with contextlib.suppress(Exception):
                    await respond(500)

    async def _accept(self, scope: Scope, receive: Receive, respond: Responder) -> Session | None:
        """Check, read, parse and record one push; answer it; return its session if recorded."""
        client = scope.get("client")
        refusal = self.guard.check(
            method=scope["method"],
            path=scope["path"],
            root_path=scope.get("root_path", ""),
            client_host=client[0] if client else None,
            headers=header_map(scope),
        )
        body = None if refusal is not None else await read_body(receive, self.guard.max_body)
        if refusal is not None or body is None:
            self.counters.rejected += 1
            self.instrumentation.push_rejected(refusal or 413)
            await respond(refusal or 413, allow=refusal == 405)
            return None
        try:
            pushes = parse_push(body)
        except PushFormatError as exc:
            self.counters.rejected += 1
            self.instrumentation.push_rejected(400)
            await respond(400, str(exc).encode("utf-8", "replace")[:200])
            return None
        try:
            session = await self.session()
            new: list[ParsedPush] = []
            if pushes:
                new = await session.spool.admit(pushes, self.clock())
        except Unavailable as exc:
            await respond(503, str(exc).encode())
            return None
        except Exception:
            log.exception("could not record a push; answering 503 so the platform retries")
            await respond(503, b"spool unavailable")
            return None
        self.counters.received += len(new)
        self.counters.duplicates += len(pushes) - len(new)
        self.instrumentation.pushes_received(
            [type(push.event).__name__ for push in new], len(pushes) - len(new)
        )
        if session.spool.owns_admitted:
            session.dispatcher.intake(new)
        try:
            await respond(200, ACK)
        except Exception:
            # The sender is gone; the push is recorded all the same (its retry is a duplicate).
            log.debug("could not answer a recorded push", exc_info=True)
        return session
