"""AsyncClient: the one place that awaits the network.

Everything it sends is built by the sans-I/O core; everything it receives is
decoded there too.  What lives here is the part that needs a clock, a socket
and sleep: signing each attempt at the current (corrected) time, sending,
and deciding from the failure whether a retry is safe.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.lowlevel
import httpx

from . import _recordings
from ._callcenter_models import RecordingUrl
from ._core.clock import offset_from_date_header
from ._core.envelope import decode
from ._core.requests import ApiRequest, send_sip_request
from ._core.retry import (
    RetryPolicy,
    Verdict,
    after_answer_error,
    after_transport_failure,
    backoff_delay,
)
from ._core.signing import signed_headers
from ._dialing.batch import Batch, BatchOptions, BatchProgress, stream_outcomes
from ._dialing.limits import DialLimits, positive_int
from ._io.stack import Backend, HttpStack
from ._paging import records as _records
from ._paging.records import RecordStream
from .callcenter import CallCenter
from .errors import (
    HttpStatusError,
    LaafficError,
    OutcomeUnknownError,
    RateLimitedError,
    RequestValidationError,
    ResponseFormatError,
    TimestampExpiredError,
    TransportError,
)
from .models import Call, CallOutcome, CallRecord, Credentials, PlacedCall, RecordPage

__all__ = ["ITNIOTECH", "LAAFFIC", "ONBUKA", "AsyncClient"]

#: Laaffic's API root (voice and call-center endpoints under ``/v3``).
LAAFFIC = "https://api.laaffic.com/v3"
#: Itniotech's API root: its voice endpoints have no ``/v3`` prefix.
ITNIOTECH = "https://api.itniotech.com"
#: Onbuka's API root, the same API under a third brand.
ONBUKA = "https://api.onbuka.com/v3"

log = logging.getLogger("laaffic_async")

# Failures where the request provably never left: safe to retry even for sendSip.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# The vendor's own Java SDK uses 15 s connect and read timeouts.
_DEFAULT_TIMEOUT = 15.0


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


class AsyncClient:
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
    :meth:`send_many` batches obey them on top of their own limits.

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
    ) -> None:
        api_key = api_key or _env("LAAFFIC_API_KEY")
        api_secret = api_secret or _env("LAAFFIC_API_SECRET")
        if not api_key:
            raise RequestValidationError("api_key", "is required (or set LAAFFIC_API_KEY)")
        if not api_secret:
            raise RequestValidationError("api_secret", "is required (or set LAAFFIC_API_SECRET)")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise RequestValidationError("max_connections", "must be a positive integer")
        if max_connections < 1:
            raise RequestValidationError("max_connections", "must be a positive integer")
        #: Limits every send_sip/place shares, from any task (None: unlimited).
        self.limits = DialLimits(concurrency, calls_per_second)
        if concurrency is not None:
            # A pool smaller than the concurrency would silently cap it: grow the pool.
            max_connections = max(max_connections, positive_int("concurrency", concurrency))
        self._credentials = Credentials(api_key, api_secret)
        self.app_id = app_id or _env("LAAFFIC_APP_ID")
        self.base_url = (base_url or _env("LAAFFIC_BASE_URL") or LAAFFIC).rstrip("/") + "/"
        self.max_connections = max_connections
        self.retry = retry or RetryPolicy()
        self._clock_offset = 0.0
        self._task_group: anyio.abc.TaskGroup | None = None
        self._stack = HttpStack.build(
            backend=http_backend,
            max_connections=max_connections,
            timeout=timeout,
            transport=transport,
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return (
            f"AsyncClient(api_key={self._credentials.api_key!r}, app_id={self.app_id!r}, "
            f"base_url={self.base_url!r})"
        )

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError("this AsyncClient is already entered")
        # The task group batches run in: owned by the client, so no async generator
        # ever yields from inside one (see _batch.py).
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
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
            # Shielded: a cancelled exit must still close the pooled sockets.
            with anyio.CancelScope(shield=True):
                await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections (unless the caller owns the httpx client)."""
        await self._stack.aclose()

    # -- the calls -------------------------------------------------------------------------

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
        refuses (``SipBusyError`` when the account is on a call), and
        :class:`~laaffic_async.errors.OutcomeUnknownError` when the call may
        or may not have been placed, and
        :class:`~laaffic_async.errors.TransportError` when the request
        provably never reached the server (connect failure, pool timeout)
        on every attempt the client's retry policy allows.
        """
        call = Call(
            callee=callee,
            account=account,
            display_num=display_num,
            called_info=called_info,
            app_id=app_id,
        )
        return await self.place(call)

    async def place(self, call: Call) -> PlacedCall:
        """Place a prepared :class:`~laaffic_async.models.Call` (see :meth:`send_sip`)."""
        request = send_sip_request(call, self.app_id)
        async with self.limits:
            data = await self.request(request)
        if not isinstance(data, (str, int)) or isinstance(data, bool) or data == "":
            # The platform answered "0" but gave no id: the call ran, we cannot name it.
            raise OutcomeUnknownError(
                f"success without a voice id: {data!r}", endpoint=request.endpoint, request=call
            )
        return PlacedCall(voice_id=str(data), call=request.subject)  # type: ignore[arg-type]

    def send_many(
        self,
        calls: Iterable[Call] | AsyncIterable[Call],
        *,
        concurrency: int = 50,
        calls_per_second: float | None = None,
        retry_busy: bool = True,
        busy_timeout: float = 300.0,
        busy_delay: float = 1.0,
        one_per_account: bool = True,
        ordered: bool = False,
        lookahead: int | None = None,
        progress: BatchProgress | Callable[[BatchProgress], object] | None = None,
    ) -> AsyncIterator[CallOutcome]:
        """Place many calls; yield a :class:`CallOutcome` per call as each finishes.

        ``calls`` (an iterable or async iterable of :class:`Call`) is read lazily.
        ``concurrency`` caps requests in flight (at most ``max_connections``),
        ``calls_per_second`` their start rate, ``one_per_account`` allows one per
        account; a -68 is retried with backoff for up to ``busy_timeout`` s.
        A failed call is an outcome, never an exception; one whose fate is
        unknown carries :class:`~laaffic_async.errors.OutcomeUnknownError`
        and is never retried (the README's "Dialing many calls" has the rest).
        Needs ``async with AsyncClient(...)``; for immediate cleanup on an early
        exit use :meth:`batch`.
        """
        batch = self.batch(
            calls,
            concurrency=concurrency,
            calls_per_second=calls_per_second,
            retry_busy=retry_busy,
            busy_timeout=busy_timeout,
            busy_delay=busy_delay,
            one_per_account=one_per_account,
            ordered=ordered,
            lookahead=lookahead,
            progress=progress,
        )
        return stream_outcomes(batch)

    def batch(
        self,
        calls: Iterable[Call] | AsyncIterable[Call],
        *,
        concurrency: int = 50,
        calls_per_second: float | None = None,
        retry_busy: bool = True,
        busy_timeout: float = 300.0,
        busy_delay: float = 1.0,
        one_per_account: bool = True,
        ordered: bool = False,
        lookahead: int | None = None,
        progress: BatchProgress | Callable[[BatchProgress], object] | None = None,
    ) -> Batch:
        """:meth:`send_many` as ``async with client.batch(calls) as outcomes:``.

        Leaving the block stops the batch and waits until nothing of it runs.
        """
        if self._task_group is None:
            raise RuntimeError(
                "send_many()/batch() need the client entered: `async with AsyncClient(...) as c:`"
            )
        options = BatchOptions(
            concurrency=concurrency,
            calls_per_second=calls_per_second,
            retry_busy=retry_busy,
            busy_timeout=busy_timeout,
            busy_delay=busy_delay,
            one_per_account=one_per_account,
            ordered=ordered,
            lookahead=lookahead,
        )
        options.check_pool(self._stack.pool_size)
        return Batch(calls, self.place, options, self._task_group, progress)

    async def record_page(
        self,
        start: datetime,
        end: datetime,
        *,
        current: int = 1,
        size: int = 100,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
    ) -> RecordPage:
        """Fetch one raw page of voice/recordSipQuery.

        The window is sent as given (at most 31 days, inside the last two
        months, or the API answers -25); :meth:`records` slices long windows.
        """
        return await _records.fetch_page(
            self,
            start,
            end,
            current=current,
            size=size,
            sip_group_name=sip_group_name,
            phone_name=phone_name,
        )

    def records(
        self,
        start: datetime,
        end: datetime,
        *,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
        page_size: int = 100,
        concurrency: int = 4,
    ) -> RecordStream:
        """Every call record submitted in ``[start, end]``, exactly once (voice/recordSipQuery).

        ``async for record in client.records(start, end): ...``, or
        ``.pages()`` for page-sized batches.  ``start``/``end`` must be aware
        datetimes, ``end`` not before ``start``, ``start`` inside the API's
        two months (60 days by :meth:`now`); all checked here, before any
        request.  Any window length works: it is sliced into 31-day queries,
        pages fetched ``concurrency`` at a time.  Guarantees and costs:
        :class:`~laaffic_async.RecordStream`.
        """
        return _records.stream(
            self,
            start,
            end,
            sip_group_name=sip_group_name,
            phone_name=phone_name,
            page_size=page_size,
            concurrency=concurrency,
        )

    # -- call center and recordings (the work lives in callcenter.py and _recordings.py) -----

    @property
    def call_center(self) -> CallCenter:
        """Call-center management: agent groups, agents, number lists, dialing tasks."""
        return CallCenter(self)

    async def record(self, voice_id: str) -> CallRecord:
        """One call record by its voice id (``GET voice/recordSip/{voiceId}``).

        Raises :class:`~laaffic_async.errors.DataNotFoundError` (-24) for an unknown id.
        """
        return await _recordings.fetch_record(self, voice_id)

    async def recording_url(self, recording_file_id: str, source_type: str = "sip") -> RecordingUrl:
        """A time-limited download link for a recording (voice/getRecordingFileUrl).

        ``recording_file_id`` is :attr:`CallRecord.recording_file_id`;
        ``source_type`` is ``"sip"`` (phone calls) or ``"group"`` (group calls).
        """
        return await _recordings.fetch_recording_url(self, recording_file_id, source_type)

    async def download_recording(
        self, file_id: str, destination: str | os.PathLike[str], *, source_type: str = "sip"
    ) -> Path:
        """Stream a recording to ``destination`` (a file, or a directory to put it in).

        Fetches a fresh link, then writes the body in chunks to a temporary
        file beside the destination and renames it into place: the whole
        recording is never held in memory and no partial file is ever left.
        The link is pre-signed, so no API headers are sent to its host.
        Raises :class:`~laaffic_async.errors.HttpStatusError` when the download
        answers an error (the platform sends HTTP 500 with a text reason).
        Returns the path written.
        """
        return await _recordings.download_recording(self, file_id, destination, source_type)

    # -- the engine --------------------------------------------------------------------------

    def now(self) -> float:
        """The current time in unix seconds, corrected by the learned server offset."""
        return time.time() + self._clock_offset

    async def request(self, request: ApiRequest) -> Any:
        """Sign, send and decode one :class:`ApiRequest`, retrying only where safe.

        Returns the envelope's ``data``.  This is the single network seam
        used by every endpoint method, batching and paging.
        """
        # A checkpoint first: with an in-process transport nothing below may yield, and a
        # cancelled caller must still be able to stop here (trio is strict about it).
        await anyio.lowlevel.checkpoint()
        endpoint = request.endpoint
        attempt = 0
        resigned = False
        while True:
            attempt += 1
            headers = signed_headers(self._credentials, int(self.now()))
            try:
                status, content, answer_headers = await self._stack.exchange(
                    request.method,
                    self.base_url + endpoint,
                    body=request.body,
                    params=request.params,
                    headers=headers,
                )
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                verdict = after_transport_failure(
                    self.retry, attempt, sent=sent, dials=request.dials
                )
                if verdict is Verdict.RETRY:
                    await self._pause(attempt, endpoint, exc)
                    continue
                message = f"{type(exc).__name__}: {exc}"
                if verdict is Verdict.UNKNOWN:
                    # The body may have reached the server: never a reason to dial again.
                    raise OutcomeUnknownError(
                        message, endpoint=endpoint, request=request.subject
                    ) from exc
                raise TransportError(message, endpoint=endpoint) from exc
            try:
                return decode(endpoint, status, content)
            except TimestampExpiredError:
                offset = offset_from_date_header(answer_headers.get("date"), time.time())
                if resigned or offset is None:
                    raise
                # -16 says the call did not run; sign again with the server's time.
                self._clock_offset = offset
                resigned = True
                log.warning("%s: timestamp refused; clock offset now %+.0f s", endpoint, offset)
            except (HttpStatusError, ResponseFormatError, RateLimitedError) as exc:
                verdict = after_answer_error(self.retry, attempt, exc, dials=request.dials)
                if verdict is Verdict.UNKNOWN:
                    raise OutcomeUnknownError(
                        str(exc), endpoint=endpoint, request=request.subject
                    ) from exc
                if verdict is Verdict.RAISE:
                    raise
                await self._pause(attempt, endpoint, exc)

    async def _pause(self, attempt: int, endpoint: str, exc: Exception | LaafficError) -> None:
        delay = backoff_delay(self.retry, attempt, random.random())
        log.info("%s: attempt %d failed (%s); retrying in %.2f s", endpoint, attempt, exc, delay)
        await anyio.sleep(delay)
