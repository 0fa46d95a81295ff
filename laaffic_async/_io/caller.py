"""Caller: the one place the SDK awaits the network.

Everything it sends is built by the sans-I/O core and everything it receives is decoded
there. What lives here needs a clock, a socket and sleep: signing each attempt at the
current (corrected) time, sending through a :class:`~.session.Session`, and deciding from
the failure, with the core's pure verdicts, whether another attempt is safe. Every feature
(dialing, paging, call center, recordings, export) is handed a caller; none of them sees
:class:`~laaffic_async.AsyncClient`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import attrs
import httpx

from .._core.clock import offset_from_date_header
from .._core.envelope import decode
from .._core.requests import ApiRequest
from .._core.retry import (
    RetryPolicy,
    Verdict,
    after_answer_error,
    after_download_error,
    after_transport_failure,
    backoff_delay,
)
from .._core.signing import signed_headers
from ..errors import (
    HttpStatusError,
    LaafficError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseFormatError,
    TimestampExpiredError,
    TransportError,
)
from ..models import Credentials
from .instrument import NOOP, Attempt, Instrumentation
from .session import Session
from .stack import USER_AGENT

__all__ = ["DOWNLOAD", "Caller"]

log = logging.getLogger("laaffic_async")

T = TypeVar("T")

#: The name errors and logs give a download: never its URL, whose query is a credential.
DOWNLOAD = "recording download"
# How much of a failed download's text answer is kept for the error message.
_ERROR_BODY_LIMIT = 4096
# Failures where the request provably never left: safe to retry even for sendSip.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class _ClockSkew(Exception):
    """-16 with a usable ``Date``: the caller re-signs once with the server's time."""

    def __init__(self, error: TimestampExpiredError, offset: float) -> None:
        self.error = error
        self.offset = offset


@attrs.define(eq=False)
class Caller:
    """Signs, sends, retries where safe, and maps every failure into the error tree."""

    credentials: Credentials
    base_url: str
    session: Session
    retry: RetryPolicy
    app_id: str | None = None
    #: Seconds to add to the local clock to get the server's (learned from a -16 answer).
    clock_offset: float = 0.0
    #: Traces and metrics of every attempt (and, through it, of every feature).
    instrumentation: Instrumentation = NOOP
    # The last signed headers, their timestamp and credentials: one md5 a second, not a call.
    _signed: tuple[int, Credentials | None, dict[str, str]] = attrs.field(
        default=(-1, None, {}), init=False, repr=False
    )

    def now(self) -> float:
        """The current time in unix seconds, corrected by the learned server offset."""
        return time.time() + self.clock_offset

    def request(self, request: ApiRequest) -> Coroutine[Any, Any, Any]:
        """Sign, send and decode one :class:`ApiRequest`; await it for the envelope's ``data``.

        A dialing request (``request.dials``) is sent again only when the attempt provably
        did not run; any other failure after its body may have left raises
        :class:`~laaffic_async.errors.OutcomeUnknownError`. Not itself a coroutine: it hands
        back the retry loop's, one frame fewer for every resumption of every call.
        """
        url = self.base_url + request.endpoint
        return self._attempts(
            request.endpoint,
            lambda headers, observed: self._api_attempt(request, url, headers, observed),
            target=(request.method, url, request.route),
            dials=request.dials,
            subject=request.subject,
        )

    async def download(self, url: str, sink: Callable[[httpx.Response], Awaitable[None]]) -> None:
        """GET a pre-signed ``url`` and hand the streamed answer to ``sink``, retrying as a query.

        No API headers go to whatever host serves the link. A 500 (the platform's "unknown
        file or expired link") is an answer and raised at once; 502-504 and transport
        failures start again from the beginning, so ``sink`` must start afresh each time.
        """

        async def attempt(_: dict[str, str] | None, observed: Attempt) -> None:
            async with self.session.stream(
                "GET", url, headers={"User-Agent": USER_AGENT}
            ) as response:
                observed.answered(response.status_code)
                if response.status_code != 200:
                    raise HttpStatusError(
                        response.status_code, endpoint=DOWNLOAD, body=await _error_text(response)
                    )
                await sink(response)

        # Traced without the link's query (a credential), and unsigned: no trace headers either.
        bare = urlsplit(url)._replace(query="", fragment="").geturl()
        await self._attempts(
            DOWNLOAD,
            attempt,
            target=("GET", bare, DOWNLOAD),
            signed=False,
            dials=False,
            judge=after_download_error,
        )

    def headers(self) -> dict[str, str]:
        """Fresh signed headers for one attempt (a new dict: the caller may add to it)."""
        timestamp = int(self.now())
        signed_at, credentials, headers = self._signed
        if signed_at != timestamp or credentials is not self.credentials:
            headers = signed_headers(self.credentials, timestamp)
            headers["User-Agent"] = USER_AGENT
            self._signed = (timestamp, self.credentials, headers)
        return headers.copy()

    async def _api_attempt(
        self, request: ApiRequest, url: str, headers: dict[str, str] | None, observed: Attempt
    ) -> Any:
        status, content, answer_headers = await self.session.exchange(
            request.method, url, content=request.body, params=request.params, headers=headers or {}
        )
        observed.answered(status)
        try:
            return decode(request.endpoint, status, content)
        except TimestampExpiredError as exc:
            offset = offset_from_date_header(answer_headers.get("date"), time.time())
            if offset is None:
                raise
            raise _ClockSkew(exc, offset) from exc

    async def _attempts(
        self,
        label: str,
        attempt: Callable[[dict[str, str] | None, Attempt], Awaitable[T]],
        *,
        target: tuple[str, str, str],
        dials: bool,
        signed: bool = True,
        subject: object = None,
        judge: Callable[..., Verdict] = after_answer_error,
    ) -> T:
        """The single retry loop: every endpoint and every download goes through it.

        ``attempt(headers, observed)`` makes one try with fresh signed headers (``None`` when
        not ``signed``); ``target`` is ``(method, url without query, endpoint template)``.
        Each try is one span and one duration, ended here with the verdict on it.
        """
        # With an in-process transport nothing below may yield, and a cancelled caller must
        # still be able to stop here (trio is strict about it). Not a full checkpoint: a
        # trip round the event loop per call cost more than signing (bench_dial.py).
        await anyio.lowlevel.checkpoint_if_cancelled()
        method, url, route = target
        number = 0
        resigned = False
        while True:
            number += 1
            headers = self.headers() if signed else None
            # Before sending: the hook injects the trace context into the headers.
            observed = self.instrumentation.attempt(method, url, route, number, headers)
            # When this attempt leaves (server clock): what reconciling an unknown one searches by.
            sent_at = self.now()  # a datetime only when an unknown outcome needs it
            try:
                result = await attempt(headers, observed)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                verdict = after_transport_failure(self.retry, number, sent=sent, dials=dials)
                observed.end(exc, "transport" if verdict is Verdict.RETRY else None)
                if verdict is Verdict.RETRY:
                    await self._pause(number, label, exc)
                    continue
                message = f"{type(exc).__name__}: {exc}"
                if verdict is Verdict.UNKNOWN:
                    # The body may have reached the server: never a reason to dial again.
                    raise OutcomeUnknownError(
                        message,
                        endpoint=label,
                        request=subject,
                        sent_at=datetime.fromtimestamp(sent_at, UTC),
                    ) from exc
                raise TransportError(message, endpoint=label) from exc
            except _ClockSkew as skew:
                observed.end(skew.error, None if resigned else "timestamp_expired")
                if resigned:
                    raise skew.error from None
                # -16 says the request did not run; sign again with the server's time.
                self.clock_offset = skew.offset
                resigned = True
                log.warning("%s: timestamp refused; clock offset now %+.0f s", label, skew.offset)
            except (HttpStatusError, ResponseFormatError, RateLimitedError) as exc:
                verdict = judge(self.retry, number, exc, dials=dials)
                observed.end(exc, _retry_reason(exc) if verdict is Verdict.RETRY else None)
                if verdict is Verdict.UNKNOWN:
                    raise OutcomeUnknownError(
                        str(exc),
                        endpoint=label,
                        request=subject,
                        sent_at=datetime.fromtimestamp(sent_at, UTC),
                    ) from exc
                if verdict is Verdict.RAISE:
                    raise
                await self._pause(number, label, exc)
            except BaseException as exc:
                observed.end(exc)
                raise
            else:
                observed.end()
                return result

    async def _pause(self, attempt: int, label: str, exc: Exception) -> None:
        delay = backoff_delay(self.retry, attempt, random.random())
        log.info("%s: attempt %d failed (%s); retrying in %.2f s", label, attempt, exc, delay)
        await anyio.sleep(delay)

    async def aclose(self) -> None:
        """Close the session's connections (unless the caller owns them)."""
        await self.session.aclose()


def _retry_reason(exc: LaafficError) -> str:
    """What a retried attempt's span says went wrong (a class of failure, never a message)."""
    if isinstance(exc, HttpStatusError):
        return "http_status"
    if isinstance(exc, RateLimitedError):
        return "rate_limited"
    return "response_format"


async def _error_text(response: httpx.Response) -> str:
    """The start of a failure's text answer (it may be long; only the start is kept)."""
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk[: _ERROR_BODY_LIMIT - len(kept)]
        if len(kept) >= _ERROR_BODY_LIMIT:
            break
    return kept.decode("utf-8", "replace")
