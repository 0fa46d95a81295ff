"""The hooks of :mod:`.instrument`, recorded with OpenTelemetry (the ``otel`` extra).

Imported only by :func:`.instrument.build`, and only when ``opentelemetry``
imports.  It follows the library pattern: a tracer and a meter from the
providers given, or from the global ones (no-ops until the application
configures an SDK).  Names follow the OpenTelemetry HTTP semantic
conventions where one exists (``http.client.request.duration``,
``http.request.method``, ``url.full`` ...); the API's own facts use the
``laaffic.`` prefix.

Nothing secret is recorded: URLs lose their query and user info, and no
header, body, parameter or exception message is ever read here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as context_api
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._version import __version__
from ..errors import ApiError, OutcomeUnknownError
from .instrument import Attempt, Instrumentation, Operation

__all__ = ["OtelInstrumentation"]

SCOPE = "laaffic_async"
# The semantic conventions' advice for http.client.request.duration, in seconds.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
# Rate-limiter waits go from nothing to a minute or more behind a long queue.
_WAIT_BUCKETS = (0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=512)
def _target(method: str, url: str, endpoint: str) -> tuple[str, str, dict[str, Any]]:
    """``(span name, url.full, the metric attributes)`` of a request; cached, since a client
    sends the same few (a recording download or a record lookup by id only churns the cache).

    ``url.full`` keeps no query and no user info.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    attributes = {
        "http.request.method": method,
        "server.address": host,
        "server.port": parts.port or _DEFAULT_PORTS.get(parts.scheme, 0),
        "url.scheme": parts.scheme,
        "laaffic.endpoint": endpoint,
    }
    return f"{method} {endpoint}", f"{parts.scheme}://{netloc}{parts.path}", attributes


# How often the global providers are looked at again while none is configured.
_RECHECK_SECONDS = 1.0
# What an attempt gets while no provider is configured: records nothing.
_UNOBSERVED = Attempt()


def _is_proxy_meter_provider(provider: metrics.MeterProvider) -> bool:
    # The API's stand-in until a provider is set has no public class; a renamed one is simply
    # taken as configured (the safe side: everything is then recorded as before).
    return type(provider).__name__ == "_ProxyMeterProvider"


def _error_type(error: BaseException) -> str:
    return type(error).__qualname__


class _Attempt(Attempt):
    __slots__ = ("_api", "_attributes", "_owner", "_span", "_started", "_status")

    def __init__(
        self, owner: OtelInstrumentation, span: trace.Span, attributes: dict[str, Any], api: bool
    ) -> None:
        self._owner = owner
        self._span = span
        self._attributes = attributes
        # An API request answers with an envelope status; a recording download does not.
        self._api = api
        self._status: int | None = None
        self._started = time.perf_counter()

    def answered(self, http_status: int) -> None:
        self._status = http_status

    def end(self, error: BaseException | None = None, retry: str | None = None) -> None:
        duration = time.perf_counter() - self._started
        http_status = self._status
        span = self._span
        attributes = self._attributes
        if http_status is not None:
            attributes["http.response.status_code"] = http_status
        if isinstance(error, ApiError):
            attributes["laaffic.status"] = error.status
        elif error is None and http_status is not None and self._api:
            attributes["laaffic.status"] = "0"
        error_type = None
        if http_status is not None and http_status >= 400:
            error_type = str(http_status)
        elif error is not None:
            error_type = _error_type(error)
        if error_type is not None:
            attributes["error.type"] = error_type
        self._owner._duration.record(duration, attributes)
        if span.is_recording():
            span.set_attributes(attributes)
            if retry is not None:
                span.set_attribute("laaffic.retry_reason", retry)
            if error_type is not None:
                span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()


class _Operation(Operation):
    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def within(self) -> AbstractContextManager[None]:
        return _Current(self._span)

    def end(self, counts: Mapping[str, int], error: BaseException | None = None) -> None:
        span = self._span
        if span.is_recording():
            span.set_attributes(counts)
            if error is not None:
                error_type = _error_type(error)
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()


class _Current:
    """Makes a span current for a block that stays in one task (attach ... detach)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def __enter__(self) -> None:
        self._token = context_api.attach(trace.set_span_in_context(self._span))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        context_api.detach(self._token)


class _Handling:
    """A span around one push handler call, counting it as handled or failed."""

    __slots__ = ("_attributes", "_owner", "_span", "_token")

    def __init__(self, owner: OtelInstrumentation, kind: str, attempt: int) -> None:
        self._owner = owner
        self._attributes = {"laaffic.push.type": kind}
        self._span = owner._tracer.start_span(
            "laaffic.push.handle",
            kind=SpanKind.CONSUMER,
            attributes={"laaffic.push.type": kind, "laaffic.push.attempt": attempt},
        )

    def __enter__(self) -> None:
        self._token = context_api.attach(trace.set_span_in_context(self._span))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        context_api.detach(self._token)
        span = self._span
        if exc is None:
            self._owner._push_handled.add(1, self._attributes)
        else:
            if isinstance(exc, Exception):
                self._owner._push_failures.add(1, self._attributes)
            error_type = _error_type(exc)
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()


class OtelInstrumentation(Instrumentation):
    """Traces and metrics through the OpenTelemetry API (providers given, or the global ones)."""

    enabled = True

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        # Providers passed in are used as they are; the global ones are looked at (at most once
        # a second) to skip the per-attempt work while the application has configured none.
        self._explicit = tracer_provider is not None or meter_provider is not None
        self._configured = self._explicit
        self._recheck_at = 0.0
        # Dials in flight while nothing was configured: handed to the counter when a provider
        # appears, so the calls that end afterwards leave it balanced.
        self._pending_in_flight = 0
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self._duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests (one per attempt).",
            explicit_bucket_boundaries_advisory=_HTTP_BUCKETS,
        )
        self._dials = meter.create_counter(
            "laaffic.dial.outcomes",
            unit="{call}",
            description="Calls finished, by outcome (placed, failed, unknown, busy_retried).",
        )
        self._dials_in_flight = meter.create_up_down_counter(
            "laaffic.dial.in_flight",
            unit="{request}",
            description="sendSip requests sent and not yet answered.",
        )
        self._rate_wait = meter.create_histogram(
            "laaffic.rate_limiter.wait",
            unit="s",
            description="Time a dial waited for its rate-limiter slot.",
            explicit_bucket_boundaries_advisory=_WAIT_BUCKETS,
        )
        self._records = meter.create_counter(
            "laaffic.records.exported",
            unit="{record}",
            description="Call records handed out by records() iterations.",
        )
        self._push_received = meter.create_counter(
            "laaffic.push.received", unit="{event}", description="Push events acknowledged."
        )
        self._push_duplicates = meter.create_counter(
            "laaffic.push.duplicates",
            unit="{event}",
            description="Push events dropped as redeliveries.",
        )
        self._push_rejected = meter.create_counter(
            "laaffic.push.rejected", unit="{request}", description="Push requests refused."
        )
        self._push_handled = meter.create_counter(
            "laaffic.push.handled", unit="{event}", description="Push handler calls that returned."
        )
        self._push_failures = meter.create_counter(
            "laaffic.push.handler_failures",
            unit="{event}",
            description="Push handler calls that raised (each is retried).",
        )

    def attempt(
        self,
        method: str,
        url: str,
        endpoint: str,
        number: int,
        headers: dict[str, str] | None,
    ) -> Attempt:
        if not self._live():
            # No SDK behind the global proxies: every span would be a non-recording no-op and
            # every measurement dropped, so skip building them (the per-attempt cost that
            # mattered: about 12% of the fast extra's CPU per call).
            return _UNOBSERVED
        name, full, shared = _target(method, url, endpoint)
        attributes = shared.copy()  # the end adds the answer's facts to this copy
        # Given at the start, where samplers see them (the conventions ask for that).
        span_attributes = {**shared, "url.full": full, "laaffic.attempt": number}
        if number > 1:
            span_attributes["http.request.resend_count"] = number - 1
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)
        # No span and no parent (no provider, nothing traced above us): nothing to propagate.
        if headers is not None and span.get_span_context().is_valid:
            propagate.inject(headers, context=trace.set_span_in_context(span))
        return _Attempt(self, span, attributes, headers is not None)

    def _live(self) -> bool:
        """Whether anything records: providers given, or a global one the application set
        (looked at at most once a second, so one set after the client was built is used
        within a second)."""
        if self._configured:
            return True
        now = time.monotonic()
        if now >= self._recheck_at:
            self._recheck_at = now + _RECHECK_SECONDS
            self._configured = not isinstance(
                trace.get_tracer_provider(), trace.ProxyTracerProvider
            ) or not _is_proxy_meter_provider(metrics.get_meter_provider())
            if self._configured and self._pending_in_flight:
                self._dials_in_flight.add(self._pending_in_flight)
                self._pending_in_flight = 0
        return self._configured

    def dial_started(self) -> None:
        if self._live():
            self._dials_in_flight.add(1)
        else:
            self._pending_in_flight += 1

    def dial_ended(self) -> None:
        if self._live():
            self._dials_in_flight.add(-1)
        else:
            self._pending_in_flight -= 1

    def dial_outcome(self, error: BaseException | None) -> None:
        if not self._live():
            return
        if error is None:
            self._dials.add(1, {"laaffic.outcome": "placed", "laaffic.status": "0"})
            return
        if not isinstance(error, Exception):
            return  # cancelled: no outcome (BatchProgress counts it as cancelled)
        outcome = "unknown" if isinstance(error, OutcomeUnknownError) else "failed"
        attributes = {"laaffic.outcome": outcome, "error.type": _error_type(error)}
        if isinstance(error, ApiError):
            attributes["laaffic.status"] = error.status
        self._dials.add(1, attributes)

    def dial_busy_retried(self) -> None:
        if not self._live():
            return
        self._dials.add(1, {"laaffic.outcome": "busy_retried", "laaffic.status": "-68"})

    def rate_waited(self, limiter: str, seconds: float) -> None:
        if not self._live():
            return
        self._rate_wait.record(seconds, {"laaffic.limiter": limiter})

    def operation(self, name: str, attributes: Mapping[str, int | str]) -> Operation:
        return _Operation(self._tracer.start_span(name, attributes=attributes))

    def records_exported(self, count: int) -> None:
        if count:
            self._records.add(count)

    def pushes_received(self, kinds: Sequence[str], duplicates: int) -> None:
        for kind in kinds:
            self._push_received.add(1, {"laaffic.push.type": kind})
        if duplicates:
            self._push_duplicates.add(duplicates)

    def push_rejected(self, status: int) -> None:
        self._push_rejected.add(1, {"http.response.status_code": status})

    def push_handling(self, kind: str, attempt: int) -> AbstractContextManager[None]:
        return _Handling(self, kind, attempt)
