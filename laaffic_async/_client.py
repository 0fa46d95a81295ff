"""AsyncClient: builds the one I/O seam and hands it to every feature.

The client owns the parts a process shares: the :class:`~._io.caller.Caller` (signing, clock
offset, the single retry loop, over a :class:`~._io.session.Session`), the client-wide dial
limits, and the task group batches and paging workers run in. Every method is a short
delegation to a feature module that receives the caller and the task group, never the client;
the dialing methods are here, the record, call-center and recording ones in _client_records.py.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self, Unpack

import anyio
import anyio.abc
import httpx

from ._client_records import ClientQueries
from ._core.retry import RetryPolicy
from ._core.validators import credential
from ._dialing.batch import Batch, stream_outcomes
from ._dialing.dialer import Dialer
from ._dialing.journaled import JournaledRun
from ._dialing.limits import DialGate, DialLimits, positive_int
from ._dialing.options import BatchKeywords, split_keywords
from ._dialing.reconcile import DEFAULT_SETTLE
from ._io import instrument
from ._io.caller import Caller
from ._io.compression import MAX_RESPONSE_SIZE
from ._io.stack import Backend, HttpOptions, build_session
from ._io.tls import Verify
from .errors import RequestValidationError
from .journal import DialJournal
from .models import Call, CallOutcome, Credentials, PlacedCall

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from .fleet import RedisCoordinator

__all__ = ["ITNIOTECH", "LAAFFIC", "ONBUKA", "AsyncClient"]

#: Laaffic's API root (voice and call-center endpoints under ``/v3``).
LAAFFIC = "https://api.laaffic.com/v3"
#: Itniotech's API root: its voice endpoints have no ``/v3`` prefix.
ITNIOTECH = "https://api.itniotech.com"
#: Onbuka's API root, the same API under a third brand.
ONBUKA = "https://api.onbuka.com/v3"

# The vendor's own Java SDK uses 15 s connect and read timeouts.
_DEFAULT_TIMEOUT = 15.0


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


class AsyncClient(ClientQueries):
    """An asyncio (and trio) client for the Laaffic voice API.

    One instance is meant to be shared by every task of a process: it holds
    one pool of keep-alive connections.  Use it as an async context manager,
    or call :meth:`aclose` when done::

        async with AsyncClient(api_key, api_secret, app_id="4luaKsL2") as client:
            call = await client.send_sip("932111111111", account="test_001")
            print(call.voice_id)

    Credentials not given come from ``LAAFFIC_API_KEY``, ``LAAFFIC_API_SECRET``,
    ``LAAFFIC_APP_ID`` and ``LAAFFIC_BASE_URL``.

    Retry safety: sendSip places a real call and the API has no idempotency
    key, so it is re-sent only when the first attempt provably did not run
    (a connect failure, or -16 "timestamp expired", after which the clock
    offset is learned from the server's ``Date`` header and the request is
    re-signed once).  Any other failure after the body left raises
    :class:`~laaffic_async.errors.OutcomeUnknownError`.  Read-only queries
    are retried on transport errors, 5xx and -15 with backoff and jitter.

    ``concurrency`` and ``calls_per_second`` limit every dialing request of
    this client, from any task (the pool grows to ``concurrency`` if smaller);
    :meth:`send_many` batches obey them on top of their own limits.  With a
    ``coordinator`` (:class:`~laaffic_async.fleet.RedisCoordinator`) they are
    budgets of the whole fleet sharing its Redis and namespace, one request
    per phone account is in flight fleet-wide, and a Redis failure raises
    :class:`~laaffic_async.errors.CoordinationError` (nothing sent).

    ``transport`` (an ``httpx.AsyncBaseTransport``) is the test seam: hand it
    ``httpx.ASGITransport(app=Sandbox())`` to talk to the emulator in-process.
    ``http_backend`` picks what carries the requests when neither is given:
    ``"pooled"`` (default, our O(1) pool, asyncio and trio), ``"aiohttp"``
    (the ``fast`` extra, asyncio only, fastest) or ``"httpx"`` (httpx's
    ``AsyncClient`` over httpcore's pool).  With the first two, API calls go
    straight through the pool, skipping httpx's client layer (about as
    costly as a whole aiohttp request); recording downloads still use an
    ``httpx.AsyncClient`` over the same pool.
    ``http_client`` is a caller-owned ``httpx.AsyncClient``; the SDK then
    neither configures nor closes it.

    HTTP settings (every backend applies them the same way; ``verify``,
    ``proxy``, ``trust_env`` and ``keepalive_expiry`` do not apply to
    ``transport=`` or ``http_client=``, which are used as given):

    * ``timeout``: seconds to connect, to wait for a pooled connection, and
      the deadline for sending a request and reading its whole answer once
      connected (a server dripping bytes cannot stretch it); an
      ``httpx.Timeout`` sets each part, its ``read`` value being that
      deadline.
    * ``verify``: ``True`` (default) checks TLS certificates against
      certifi's CA bundle (the system store if certifi is missing); a CA
      bundle file or directory path, or an ``ssl.SSLContext`` used as is;
      ``False`` turns checking off, with a warning.
    * ``proxy``: an ``http://`` or ``https://`` proxy URL for every request
      (absolute-form for ``http://``, a CONNECT tunnel for ``https://``).
    * ``trust_env`` (default True): also honour ``HTTPS_PROXY``,
      ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` as httpx does (loopback
      addresses are proxied unless ``NO_PROXY`` lists them).
    * ``keepalive_expiry``: seconds an idle connection is kept (default 5);
      it is dropped earlier, 0.5 s before a server's ``Keep-Alive: timeout=``.
    * ``max_response_size``: the largest answer accepted, raw or decoded
      (default 16 MiB); a larger one fails like an unreadable answer.

    Observability: when ``opentelemetry-api`` is installed (the ``otel``
    extra) every attempt, dial, batch and records() export is traced and
    measured through ``tracer_provider`` and ``meter_provider`` (default: the
    global ones, which record nothing until the application configures
    OpenTelemetry); ``telemetry=False`` turns it off.  See the README's
    "Observability" section for the spans and metrics.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        app_id: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = _DEFAULT_TIMEOUT,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int | None = None,
        calls_per_second: float | None = None,
        http_backend: Backend = "pooled",
        verify: Verify = True,
        proxy: str | httpx.URL | None = None,
        trust_env: bool = True,
        keepalive_expiry: float = 5.0,
        max_response_size: int = MAX_RESPONSE_SIZE,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        telemetry: bool = True,
        coordinator: RedisCoordinator | None = None,
    ) -> None:
        api_key = api_key or _env("LAAFFIC_API_KEY")
        api_secret = api_secret or _env("LAAFFIC_API_SECRET")
        if not api_key:
            raise RequestValidationError("api_key", "is required (or set LAAFFIC_API_KEY)")
        if not api_secret:
            raise RequestValidationError("api_secret", "is required (or set LAAFFIC_API_SECRET)")
        credential("api_key", api_key)
        credential("api_secret", api_secret)
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise RequestValidationError("max_connections", "must be a positive integer")
        if max_connections < 1:
            raise RequestValidationError("max_connections", "must be a positive integer")
        self._instrument = instrument.build(tracer_provider, meter_provider, enabled=telemetry)
        #: Limits every send_sip/place shares, from any task (None: unlimited).
        self.limits = DialLimits(concurrency, calls_per_second, instrumentation=self._instrument)
        self.coordinator = coordinator
        #: What every dialing request passes: these limits, or the fleet's.
        self.gate: DialGate = self.limits
        if coordinator is not None:
            self.gate = coordinator.limits(
                concurrency, calls_per_second, instrumentation=self._instrument
            )
            self.limits = DialLimits(instrumentation=self._instrument)
        if concurrency is not None:
            # A pool smaller than the concurrency would silently cap it: grow the pool.
            max_connections = max(max_connections, positive_int("concurrency", concurrency))
        self.max_connections = max_connections
        app_id = app_id or _env("LAAFFIC_APP_ID")
        if app_id is not None:
            credential("app_id", app_id)
        session = build_session(
            backend=http_backend,
            max_connections=max_connections,
            timeout=timeout,
            transport=transport,
            http_client=http_client,
            options=HttpOptions(verify, proxy, trust_env, keepalive_expiry, max_response_size),
        )
        self._caller = Caller(
            credentials=Credentials(api_key, api_secret),
            base_url=(base_url or _env("LAAFFIC_BASE_URL") or LAAFFIC).rstrip("/") + "/",
            session=session,
            retry=retry or RetryPolicy(),
            app_id=app_id,
            instrumentation=self._instrument,
        )
        self._dialer = Dialer(self._caller, self.gate)
        self._task_group: anyio.abc.TaskGroup | None = None

    @property
    def app_id(self) -> str | None:
        """The default appId for calls that do not name one."""
        return self._caller.app_id

    @property
    def base_url(self) -> str:
        """The API root requests go to, ending in ``/``."""
        return self._caller.base_url

    @property
    def retry(self) -> RetryPolicy:
        """How read-only requests are retried."""
        return self._caller.retry

    def __repr__(self) -> str:
        return (
            f"AsyncClient(api_key={self._caller.credentials.api_key!r}, app_id={self.app_id!r}, "
            f"base_url={self.base_url!r})"
        )

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError("this AsyncClient is already entered")
        if self.coordinator is not None:
            await self.coordinator.__aenter__()
        # The task group batches and paging workers run in: owned by the client, so no
        # async generator ever yields from inside one (see _dialing/batch.py).
        task_group = anyio.create_task_group()
        try:
            await task_group.__aenter__()
        except BaseException:
            if self.coordinator is not None:
                await self.coordinator.__aexit__(None, None, None)
            raise
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        try:
            if task_group is not None:
                # Batches still running have no consumer left: stop them.
                task_group.cancel_scope.cancel()
                try:
                    return await task_group.__aexit__(exc_type, exc, tb)
                except BaseExceptionGroup as group:
                    # Batch tasks never raise, so a group holding only the block's own
                    # exception is just the task group wrapping it: let it pass unwrapped.
                    if exc is None or list(group.exceptions) != [exc]:
                        raise
            return None
        finally:
            try:
                # Not under the shield below: the coordinator owns a task group entered
                # outside it, and a task group must exit in the scope it was entered in.
                if self.coordinator is not None:
                    await self.coordinator.__aexit__(None, None, None)
            finally:
                # Shielded: a cancelled exit must still close the pooled sockets.
                with anyio.CancelScope(shield=True):
                    await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections (unless the caller owns the httpx client)."""
        await self._caller.aclose()

    # -- dialing ---------------------------------------------------------------------------

    async def send_sip(
        self,
        callee: str,
        *,
        account: str,
        display_num: str | None = None,
        called_info: str | None = None,
        app_id: str | None = None,
    ) -> PlacedCall:
        """Place one call (voice/sendSip) and return its ``voice_id``.

        Raises :class:`~laaffic_async.errors.RequestValidationError` before
        sending when a field breaks the page's rules, the endpoint's
        :class:`~laaffic_async.errors.ApiError` subclass when the platform
        refuses (``SipBusyError`` when the account is on a call),
        :class:`~laaffic_async.errors.TransportError` when the request provably
        never reached the server after every allowed attempt, and
        :class:`~laaffic_async.errors.OutcomeUnknownError` when the call may
        or may not have been placed.
        """
        call = Call(
            callee=callee,
            account=account,
            display_num=display_num,
            called_info=called_info,
            app_id=app_id,
        )
        return await self._dialer.place(call)

    async def place(self, call: Call) -> PlacedCall:
        """Place a prepared :class:`~laaffic_async.models.Call` (see :meth:`send_sip`)."""
        return await self._dialer.place(call)

    def send_many(
        self,
        calls: Iterable[Call] | AsyncIterable[Call],
        *,
        journal: DialJournal | None = None,
        redial_unplaced: bool = True,
        settle: float = DEFAULT_SETTLE,
        **options: Unpack[BatchKeywords],
    ) -> AsyncIterator[CallOutcome]:
        """Place many calls; yield a :class:`CallOutcome` per call as each finishes.

        ``calls`` (an iterable or async iterable of :class:`Call`) is read lazily.
        ``concurrency`` (default 50) caps requests in flight (at most ``max_connections``),
        ``calls_per_second`` their start rate, ``one_per_account`` (default True) allows one
        per account; a -68 is retried with backoff for up to ``busy_timeout`` s (default 300,
        first delay ``busy_delay``, default 1 s) unless ``retry_busy=False``. ``ordered=True``
        yields in input order; ``lookahead`` bounds calls read ahead (default 4 x
        concurrency); ``progress`` receives the running counts. A failed call is an
        outcome, never an exception; one whose fate is unknown carries
        :class:`~laaffic_async.errors.OutcomeUnknownError` and is never retried.
        Needs ``async with AsyncClient(...)``; for immediate
        cleanup on an early exit use :meth:`batch`.

        With ``journal`` (a :class:`~laaffic_async.journal.DialJournal`) every
        call needs a ``ref``; refs already final in the journal are not sent
        again (their outcomes come back with ``replayed=True``), and every
        unknown outcome is reconciled (:meth:`reconcile`, ``settle`` seconds)
        before the run ends: placed calls become successes, absent ones are
        dialed again (``redial_unplaced``) or reported with
        :class:`~laaffic_async.errors.NotPlacedError`.  Not with ``ordered``;
        ``progress`` then counts this run's dialing attempts, not replays.
        """
        if journal is None:
            return stream_outcomes(self.batch(calls, **options))
        settings, progress = split_keywords(options)
        settings.check_pool(self._caller.session.pool_size)
        run = JournaledRun(
            calls,
            journal=journal,
            # Unlimited place + the limits apart: the journal marks a call once the
            # limits let it go, so sent_at is when the request leaves.
            place=self._dialer.place_now,
            limits=self._dialer.gate,
            fetch=self.record_page,
            now=self._caller.now,
            options=settings,
            task_group=self._task_group,
            redial_unplaced=redial_unplaced,
            settle=settle,
            progress=progress,
        )
        return run.outcomes()

    def batch(
        self, calls: Iterable[Call] | AsyncIterable[Call], **options: Unpack[BatchKeywords]
    ) -> Batch:
        """:meth:`send_many` as ``async with client.batch(calls) as outcomes:``.

        Leaving the block stops the batch and waits until nothing of it runs.
        """
        settings, progress = split_keywords(options)
        settings.check_pool(self._caller.session.pool_size)
        if self._task_group is None:
            raise RuntimeError(
                "send_many()/batch() need the client entered: `async with AsyncClient(...) as c:`"
            )
        return Batch(
            calls,
            self._dialer.send,
            settings,
            self._task_group,
            progress,
            instrumentation=self._instrument,
        )
