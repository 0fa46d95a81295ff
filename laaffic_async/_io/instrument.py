"""The hooks the SDK calls for traces and metrics, and their do-nothing default.

Every API attempt, dial, rate-limiter wait, batch, records() export and push
handled reports here.  :data:`NOOP` answers each hook with a trivial method
(or a shared do-nothing handle), so an SDK without OpenTelemetry pays a few
attribute lookups per request and imports nothing.  :func:`build` picks the
OpenTelemetry implementation (:mod:`.otel`) when ``opentelemetry-api`` can
be imported, and only then imports it.

What the hooks receive is chosen so nothing secret can reach an exporter:
a URL without its query, an endpoint template, status codes and exception
class names; never headers, bodies, parameters or exception messages.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["NOOP", "Attempt", "Instrumentation", "Operation", "build"]

log = logging.getLogger("laaffic_async")

# One shared, reentrant do-nothing context manager.
_NULL: AbstractContextManager[None] = contextlib.nullcontext()


class Attempt:
    """One HTTP attempt being observed; this base records nothing."""

    __slots__ = ()

    def answered(self, http_status: int) -> None:
        """The answer's HTTP status arrived (an attempt without an answer never calls this)."""

    def end(self, error: BaseException | None = None, retry: str | None = None) -> None:
        """The attempt is over: the error it ended with, and why it is retried (if it is)."""


class Operation:
    """A span around a larger piece of work (a batch, an export); records nothing here."""

    __slots__ = ()

    def within(self) -> AbstractContextManager[None]:
        """Make this operation the current span while the block runs (in one task)."""
        return _NULL

    def end(self, counts: Mapping[str, int], error: BaseException | None = None) -> None:
        """The operation is over: its final counts, and the error that ended it if any."""


_ATTEMPT = Attempt()
_OPERATION = Operation()


class Instrumentation:
    """The hooks, doing nothing: the default when OpenTelemetry is not installed.

    Subclasses override what they record.  Every hook is cheap to call and
    never raises into the SDK's own code paths.
    """

    #: True when something is recorded (lets a caller skip building hook arguments).
    enabled = False

    def attempt(
        self,
        method: str,
        url: str,
        endpoint: str,
        number: int,
        headers: dict[str, str] | None,
    ) -> Attempt:
        """An HTTP attempt starts.

        ``url`` has no query string; ``endpoint`` is its template (path
        parameters named); ``number`` counts attempts from 1.  Trace context
        is injected into the API request's ``headers``; ``None`` marks a
        request that is not an API call (a recording download): no headers.
        """
        return _ATTEMPT

    def dial_started(self) -> None:
        """A sendSip request is about to leave (limits passed)."""

    def dial_ended(self) -> None:
        """That sendSip request has an answer, an error, or was cancelled."""

    def dial_outcome(self, error: BaseException | None) -> None:
        """A call's final outcome: placed (``None``), failed or unknown (from ``error``)."""

    def dial_busy_retried(self) -> None:
        """A call refused with -68 (account busy) was put back to be retried."""

    def rate_waited(self, limiter: str, seconds: float) -> None:
        """A rate limiter (``"client"`` or ``"batch"``) held a request for ``seconds``."""

    def operation(self, name: str, attributes: Mapping[str, int | str]) -> Operation:
        """A batch or an export starts."""
        return _OPERATION

    def records_exported(self, count: int) -> None:
        """``count`` call records were handed out by a records() iteration."""

    def pushes_received(self, kinds: Sequence[str], duplicates: int) -> None:
        """A push request was recorded: new events of these kinds, and redeliveries dropped."""

    def push_rejected(self, status: int) -> None:
        """A push request was refused with HTTP ``status``."""

    def push_handling(self, kind: str, attempt: int) -> AbstractContextManager[None]:
        """A handler call for one event of ``kind`` (``attempt`` from 1); the block runs it."""
        return _NULL


#: The shared do-nothing instrumentation.
NOOP = Instrumentation()


def build(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    *,
    enabled: bool = True,
) -> Instrumentation:
    """OpenTelemetry hooks if ``opentelemetry-api`` imports (and ``enabled``), else :data:`NOOP`.

    ``None`` providers mean the global ones, looked up through OpenTelemetry's
    proxies, so a provider the application sets later is still used.
    """
    if not enabled:
        return NOOP
    try:
        from .otel import OtelInstrumentation
    except ImportError:
        return NOOP
    return OtelInstrumentation(tracer_provider, meter_provider)
