"""Errors the SDK raises on its own findings: bad input, transport, unknown outcomes, fleet.

The public home of every class here is :mod:`laaffic_async.errors`, which re-exports them
and draws the whole tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "CoordinationError",
    "HttpStatusError",
    "JournalError",
    "LaafficError",
    "NotPlacedError",
    "OutcomeUnknownError",
    "PaginationError",
    "ReconcileError",
    "RequestValidationError",
    "ResponseFormatError",
    "TransportError",
]


class LaafficError(Exception):
    """Base class of every error this SDK raises on purpose.

    Every one pickles with its attributes (``endpoint``, ``request``, ``status``...), so it
    can cross a process boundary (a process pool, a fleet worker's result queue): pickle's
    default for exceptions calls the class with ``args`` alone, which the keyword-only
    constructors here refuse.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[LaafficError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle a :class:`LaafficError` without calling its constructor again."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class RequestValidationError(LaafficError, ValueError):
    """Bad input, caught before anything was sent.

    ``field`` is the wire name of the offending field (``callee``,
    ``displayNum``, ...) and ``rule`` the rule it broke, in words.
    """

    def __init__(self, field: str, rule: str, value: object = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        super().__init__(f"{field}: {rule} (got {value!r})")


class TransportError(LaafficError):
    """The request failed in transport, after the retries that were safe.

    For a dialing request (sendSip, submitTask, ...) this means it provably
    never reached the server (connect failure, pool timeout): nothing ran.
    Any later failure of a dialing request is
    :class:`OutcomeUnknownError` instead.  For a read-only query it is any
    transport failure, a read timeout or a dropped connection included,
    once its retries are spent.
    """

    def __init__(self, message: str, *, endpoint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: {message}")


class CoordinationError(LaafficError):
    """The fleet's coordinator (Redis) failed or timed out, so the request was not sent.

    Raised by a dialing request of a client built with a
    :class:`~laaffic_async.fleet.RedisCoordinator` when Redis is unreachable
    or answers an error: sending without the fleet's permission could break
    its rate, concurrency or one-call-per-account budgets, so the SDK never
    does.  Nothing was dialed; the call may be tried again later.
    """


class OutcomeUnknownError(LaafficError):
    """A request that dials people may or may not have been carried out.

    Raised for a read timeout, a connection dropped after the body was sent,
    a 5xx answer or an unreadable answer to sendSip (or submitTask).  The API
    has no idempotency key, so the SDK never re-sends such a request: doing
    so could ring a person twice.  ``request`` is the value that was sent
    (for sendSip, the :class:`~laaffic_async.models.Call`) so the caller can
    reconcile it later: :meth:`AsyncClient.reconcile
    <laaffic_async.AsyncClient.reconcile>` looks it up in the call records.
    ``sent_at`` is when the attempt left (an aware datetime on the server's
    clock as the client knows it), ``None`` when that is not known.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        request: object,
        sent_at: datetime | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.request = request
        self.sent_at = sent_at
        super().__init__(f"{endpoint}: outcome unknown: {message}")


class NotPlacedError(LaafficError):
    """A journaled call that provably never ran, reported instead of dialed again.

    The outcome of a call that reconciliation found absent from the call
    records when ``send_many(..., redial_unplaced=False)``, or that failed
    in an earlier run of the same journal (``reason`` says why).  Unlike
    :class:`OutcomeUnknownError` there is no doubt: nobody was rung.
    """

    def __init__(self, reason: str, *, request: object) -> None:
        self.reason = reason
        self.request = request
        super().__init__(f"not placed: {reason}")


class ReconcileError(LaafficError):
    """Reconciliation could not establish whether a call was placed.

    Raised by :meth:`AsyncClient.reconcile <laaffic_async.AsyncClient.reconcile>`
    when the call records cannot be read (the query failed, even after the
    client's retries), the window lies beyond the API's two-month horizon,
    or the error carries no ``sent_at``.  The call stays "unknown": the SDK
    never guesses, since guessing "not placed" could ring a person twice.
    """

    def __init__(self, message: str, *, request: object) -> None:
        self.request = request
        super().__init__(f"cannot reconcile: {message}")


class JournalError(LaafficError):
    """A :class:`~laaffic_async.journal.DialJournal` cannot be used.

    Raised when another process holds the journal's lock (one journal per
    process: a second dialer on the same file would dial the same rows), or
    when the journal file cannot be read or written.
    """


class HttpStatusError(LaafficError):
    """The server answered with a non-2xx HTTP status."""

    def __init__(self, status_code: int, *, endpoint: str, body: str = "") -> None:
        self.status_code = status_code
        self.endpoint = endpoint
        self.body = body
        super().__init__(f"{endpoint}: HTTP {status_code}: {body[:200]}")


class ResponseFormatError(LaafficError):
    """A 2xx answer whose body is not the documented JSON envelope."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: {message}")


class PaginationError(LaafficError):
    """A record set changed under the paginator in a way it cannot follow."""
