"""Receiving the platform's pushes: :class:`PushReceiver`, a plain ASGI app.

::

    from laaffic_async.events import PushEvent
    from laaffic_async.webhooks import PushReceiver

    async def on_push(event: PushEvent) -> None:
        ...

    app = PushReceiver(on_push, spool="pushes.sqlite3")   # uvicorn module:app --workers 4

What it promises (README, "Receiving pushes"): a 200 as soon as a push is
parsed and durably admitted to the spool; each event handled until a call
returns, retried with backoff, and taken over from a worker that died once
its lease (``lease_seconds``) expires; redeliveries dropped for
``dedupe_window`` across every worker sharing the spool; a 4xx and no
handler call for what is not a push; a 503, never a 200, when the spool
cannot be written, so the platform sends the push again.

Spools: a sqlite file (the default; shared by the worker processes of one
host; ``fsync=False`` trades power-cut safety for ~50x cheaper commits),
``None`` for memory (lost with the process), or a
:class:`~laaffic_async.fleet.RedisSpool` shared by replicas on several hosts.

The handler runs in a task group, so start the receiver: the ASGI lifespan
does when it is served alone; mounted in Starlette, FastAPI or Quart, enter
``async with receiver:`` in the parent's lifespan.  Unstarted, a receiver
on a file or in memory runs each request's events after its 200 (3 tries);
on Redis it answers 503.  Under Starlette give the console ``/hooks/`` or
``/hooks/<token>``: a bare ``/hooks`` is redirected, which the platform
does not follow.  Pushes carry no signature: ``path_token`` makes the URL
secret, ``allowed_ips`` limits sources, and ``trusted_proxy_header`` reads
the client address from a proxy that always sets it (its last entry).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, Self

import anyio
from anyio.abc import TaskGroup

from .._core.push_guard import PushGuard, parse_networks
from .._core.retry import RetryPolicy
from .._io import instrument
from ..errors import RequestValidationError
from ..events import AgentRinging, CallCenterRecord, PushEvent, UnknownPush, VoiceReport
from .asgi import Receive, Scope, Send, serve_lifespan
from .delivery import Counters, Dispatcher, Handler, PushStats
from .intake import Intake, Session, Unavailable
from .memory import MemoryStore
from .spool import LocalSpool, Spool
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

# The events are re-exported so a receiver module needs one import.
__all__ = [
    "AgentRinging",
    "CallCenterRecord",
    "PushEvent",
    "PushReceiver",
    "PushStats",
    "UnknownPush",
    "VoiceReport",
]

log = logging.getLogger("laaffic_async.webhooks")

#: The platform retries call-center records every 30 minutes, 3 times: 1.5 hours.
MIN_DEDUPE_WINDOW = timedelta(hours=2)


class PushReceiver:
    """An ASGI app that takes the platform's pushes and hands them to ``handler``.

    ``handler`` is ``async def handler(event: PushEvent) -> None``; it is
    called once per event (see the module docs for crashes), concurrently
    for up to ``concurrency`` events, and called again after it raises.

    Use it as an ASGI app (``uvicorn module:app``, or mounted in a parent
    app), and start it with the ASGI lifespan, ``async with receiver:`` or
    ``await receiver.run()``.

    * ``spool``: the sqlite file (created if missing; shared by the worker
      processes of a host), a :class:`~laaffic_async.fleet.RedisSpool`
      (shared by hosts), or ``None`` for memory; ``fsync``: flush every
      sqlite commit to disk;
    * ``lease_seconds``: how long a worker that stopped renewing (it died)
      keeps its events before another worker takes them over;
    * ``path_token``, ``allowed_ips``, ``trusted_proxy_header``: who may
      push (all off by default); ``max_body``: the largest body, in bytes;
    * ``dedupe_window``: how long a key is remembered (at least 2 hours);
    * ``concurrency``: handler calls at once; ``retry_base_delay`` and
      ``retry_max_delay``: the backoff after a handler raised, in seconds;
    * ``shutdown_grace``: seconds running handlers get at stop before they
      are cancelled (their events are released to the other workers);
    * ``clock``: wall-clock seconds, for tests;
    * ``tracer_provider``, ``meter_provider``, ``telemetry``: OpenTelemetry,
      as for :class:`~laaffic_async.AsyncClient` (a span per handler call,
      counters of pushes received, duplicate, rejected, handled, failed).
    """

    def __init__(
        self,
        handler: Callable[[PushEvent], Awaitable[None]],
        *,
        spool: str | os.PathLike[str] | Spool | None = "pushes.sqlite3",
        fsync: bool = True,
        lease_seconds: float = 30.0,
        path_token: str | None = None,
        allowed_ips: Iterable[str] | None = None,
        trusted_proxy_header: str | None = None,
        max_body: int = 1024 * 1024,
        dedupe_window: timedelta = timedelta(hours=3),
        concurrency: int = 16,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 300.0,
        shutdown_grace: float = 10.0,
        clock: Callable[[], float] = time.time,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        telemetry: bool = True,
    ) -> None:
        if dedupe_window < MIN_DEDUPE_WINDOW:
            raise RequestValidationError(
                "dedupe_window",
                "must be at least 2 hours: the platform redelivers call-center records "
                "for 1.5 hours",
                dedupe_window,
            )
        if path_token is not None and (not path_token or "/" in path_token):
            raise RequestValidationError(
                "path_token", "must be a non-empty string without '/'", path_token
            )
        if max_body < 1:
            raise RequestValidationError("max_body", "must be positive", max_body)
        if concurrency < 1:
            raise RequestValidationError("concurrency", "must be positive", concurrency)
        if not 0 < retry_base_delay <= retry_max_delay:
            raise RequestValidationError(
                "retry_base_delay",
                f"must be > 0 and <= retry_max_delay ({retry_max_delay!r})",
                retry_base_delay,
            )
        if not lease_seconds > 0:
            raise RequestValidationError("lease_seconds", "must be positive", lease_seconds)
        self._handler: Handler = handler
        self._window = dedupe_window.total_seconds()
        self._lease = float(lease_seconds)
        self._spool: Spool | None = None
        self._spool_path: str | None = None
        # Kept across sessions; wrapped anew in each (its lock belongs to one event loop).
        self._memory = MemoryStore(window=self._window) if spool is None else None
        if isinstance(spool, str | os.PathLike):
            self._spool_path = os.fspath(spool)
        elif spool is not None:
            self._spool = spool
        self._fsync = fsync
        self._concurrency = concurrency
        self._retry = RetryPolicy(base_delay=retry_base_delay, max_delay=retry_max_delay)
        self._grace = shutdown_grace
        self._clock = clock
        self._counters = Counters()
        self._instrument = instrument.build(tracer_provider, meter_provider, enabled=telemetry)
        guard = PushGuard(
            path_token=path_token,
            allowed_networks=None if allowed_ips is None else parse_networks(allowed_ips),
            trusted_proxy_header=trusted_proxy_header,
            max_body=max_body,
        )
        self._intake = Intake(
            guard, self._counters, self._instrument, clock, session=self._request_session
        )
        self._session: Session | None = None
        self._open_lock: anyio.Lock | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        where: object = self._spool_path or self._spool or "memory"
        state = "running" if self.running else "idle"
        return f"PushReceiver(spool={where!r}, {state})"

    @property
    def running(self) -> bool:
        """True between start (lifespan, ``async with``, ``run``) and stop."""
        return self._session is not None and self._session.background

    def stats(self) -> PushStats:
        """This process's totals so far (each worker or replica counts its own)."""
        c = self._counters
        backlog = 0 if self._session is None else self._session.dispatcher.backlog
        return PushStats(
            c.received, c.duplicates, c.rejected, c.handled, c.retried, c.taken_over, backlog
        )

    # -- lifecycle ---------------------------------------------------------------------

    def _new_spool(self) -> Spool:
        if self._spool is not None:
            return self._spool
        if self._memory is not None:
            return LocalSpool(self._memory, self._clock)
        assert self._spool_path is not None
        store = SqliteStore(self._spool_path, window=self._window, fsync=self._fsync)
        return LocalSpool(store, self._clock)

    async def _open_session(self, *, background: bool) -> Session:
        spool = self._new_spool()
        # A fresh name per session: a restarted process must not pass for its dead self.
        worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        await spool.open(worker=worker, lease=self._lease, window=self._window)
        dispatcher = Dispatcher(
            self._handler,
            spool,
            counters=self._counters,
            concurrency=self._concurrency,
            retry=self._retry,
            lease=self._lease,
            clock=self._clock,
            instrumentation=self._instrument,
        )
        if not background:
            # Nobody will claim in the background: take what is free now.
            try:
                claimed = await spool.claim(self._clock(), 1_000_000, 0)
            except BaseException:
                await spool.close()
                raise
            dispatcher.intake(claimed.fresh)
            dispatcher.intake(claimed.taken, taken=True)
        return Session(spool, dispatcher, background)

    async def __aenter__(self) -> Self:
        """Start: open the spool, run pending events, handle pushes in the background."""
        if self.running:
            raise RuntimeError("this PushReceiver is already running")
        session = self._session
        if session is None:
            session = await self._open_session(background=True)
        session.background = True  # a lazily opened session is taken over
        self._session = session
        stack = contextlib.AsyncExitStack()
        try:
            # Exit order is the reverse: stop serving, let the task group end, close the spool.
            stack.push_async_callback(self._close_session, session)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._stop_serving, session, tg)
            tg.start_soon(functools.partial(session.dispatcher.serve, until_idle=False))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    def _stop_serving(self, session: Session, tg: TaskGroup) -> None:
        # New pushes get 503 from here on; running handlers get shutdown_grace to finish.
        session.closing = True
        session.dispatcher.stop()
        tg.cancel_scope.deadline = anyio.current_time() + self._grace

    async def _close_session(self, session: Session) -> None:
        await session.dispatcher.settle()
        # Not under a cancel scope of ours: a spool may have entered one (a Redis client's).
        await session.spool.close()
        if self._session is session:
            self._session = None
        self._open_lock = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop: refuse new pushes (503), let handlers finish, close the spool."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def run(self) -> NoReturn:
        """Run the receiver until cancelled (for a task group of your own)."""
        async with self:
            await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close a receiver that was never started but served pushes (its spool stays)."""
        session = self._session
        if session is None or session.background:
            return
        session.closing = True
        session.dispatcher.stop()
        await self._close_session(session)

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: http pushes and the lifespan protocol."""
        kind = scope["type"]
        if kind == "http":
            await self._intake(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await serve_lifespan(receive, send, self.__aenter__, self._stop)

    async def _stop(self) -> None:
        await self.__aexit__(None, None, None)

    async def _request_session(self) -> Session:
        session = self._session
        if session is not None:
            if session.closing:
                raise Unavailable("shutting down")
            return session
        if self._open_lock is None:
            self._open_lock = anyio.Lock()
        if self._spool is not None:
            # A shared spool (Redis) is a connection opened and closed by one task.
            log.error("a PushReceiver on %r must be started before it gets pushes", self._spool)
            raise Unavailable("receiver not started")
        async with self._open_lock:
            if self._session is None:
                log.warning(
                    "PushReceiver got a push before it was started; handlers will run inside "
                    "each request after its answer (start it with the ASGI lifespan or "
                    "`async with receiver:` to run them in the background)"
                )
                self._session = await self._open_session(background=False)
            return self._session
