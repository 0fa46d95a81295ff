"""The exception tree of laaffic-async, drawn once::

    LaafficError
    ├── RequestValidationError (also ValueError)  bad input, caught before anything is sent
    ├── TransportError                            the request never reached the server
    ├── CoordinationError                         fleet coordination (Redis) failed: nothing sent
    ├── OutcomeUnknownError                       a dialing request may or may not have run
    ├── NotPlacedError                            a journaled call provably never ran and was left
    ├── ReconcileError                            reconciliation could not tell placed from not
    ├── JournalError                              a dial journal cannot be used (locked elsewhere)
    ├── HttpStatusError                           a non-2xx answer
    ├── ResponseFormatError                       a 2xx answer that is not the documented envelope
    ├── PaginationError                           a record set changed in a way paging cannot follow
    └── ApiError                                  the envelope's ``status`` was not "0"
        ├── AuthenticationError        -1
        ├── IpRestrictedError          -2
        ├── InsufficientBalanceError   -10
        ├── RateLimitedError           -15
        ├── TimestampExpiredError      -16
        ├── MalformedRequestError      -18
        ├── DataExistsError            -20
        ├── DataValidationError        -21
        ├── InvalidParameterError      -22
        ├── DataCapError               -23
        ├── DataNotFoundError          -24
        ├── TimeRangeError             -25
        ├── FeeLookupError             -26
        ├── ApiKeyDisabledError        -30
        ├── IpNotWhitelistedError      -31
        ├── PermissionDeniedError      -32
        ├── AgentLimitError            -36
        ├── FileTooLargeError          -38
        ├── FileFormatError            -39
        ├── TooManyRowsError           -40
        └── SipBusyError               -68 (sendSip only)

Status codes are looked up per endpoint (:func:`error_class`): the vendor
reuses numbers, and -68 means "SIP not idle" on sendSip only.  An unknown
code raises a plain :class:`ApiError`, so nothing is ever swallowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = [
    "AgentLimitError",
    "ApiError",
    "ApiKeyDisabledError",
    "AuthenticationError",
    "CoordinationError",
    "DataCapError",
    "DataExistsError",
    "DataNotFoundError",
    "DataValidationError",
    "FeeLookupError",
    "FileFormatError",
    "FileTooLargeError",
    "HttpStatusError",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "IpNotWhitelistedError",
    "IpRestrictedError",
    "JournalError",
    "LaafficError",
    "MalformedRequestError",
    "NotPlacedError",
    "OutcomeUnknownError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ReconcileError",
    "RequestValidationError",
    "ResponseFormatError",
    "SipBusyError",
    "TimeRangeError",
    "TimestampExpiredError",
    "TooManyRowsError",
    "TransportError",
    "error_class",
]


class LaafficError(Exception):
    """Base class of every error this SDK raises on purpose."""


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


class ApiError(LaafficError):
    """The API answered with a ``status`` other than ``"0"``.

    ``status`` is the code as a string (``"-22"``), ``reason`` the server's
    text (its wording varies, never match on it) and ``endpoint`` the path,
    such as ``voice/sendSip``.  ``context`` holds extra facts the SDK knew
    when it failed, such as the time slice of a record query.
    """

    code: str | None = None

    def __init__(
        self,
        status: str,
        reason: str,
        *,
        endpoint: str,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.endpoint = endpoint
        self.context: dict[str, Any] = dict(context or {})
        extra = "".join(f", {k}={v}" for k, v in self.context.items())
        super().__init__(f"{endpoint}: status {status}: {reason}{extra}")


class AuthenticationError(ApiError):
    """-1: the Api-Key, Sign or appId is wrong."""

    code = "-1"


class IpRestrictedError(ApiError):
    """-2: requests from this IP address are restricted."""

    code = "-2"


class InsufficientBalanceError(ApiError):
    """-10: the account's balance is too low to place the call."""

    code = "-10"


class RateLimitedError(ApiError):
    """-15: queried too frequently."""

    code = "-15"


class TimestampExpiredError(ApiError):
    """-16: the Timestamp header is more than half an hour off the server's clock."""

    code = "-16"


class MalformedRequestError(ApiError):
    """-18: "port program unusual", the body was not the JSON the server expected."""

    code = "-18"


class DataExistsError(ApiError):
    """-20: the data exists already (e.g. a duplicate agent-group name)."""

    code = "-20"


class DataValidationError(ApiError):
    """-21: the server's own data validation failed."""

    code = "-21"


class InvalidParameterError(ApiError):
    """-22: a parameter was refused by the server."""

    code = "-22"


class DataCapError(ApiError):
    """-23: a data cap was reached."""

    code = "-23"


class DataNotFoundError(ApiError):
    """-24: the data does not exist."""

    code = "-24"


class TimeRangeError(ApiError):
    """-25: the query's time range is outside what the API serves."""

    code = "-25"


class FeeLookupError(ApiError):
    """-26: the platform failed to look up the fee for the call."""

    code = "-26"


class ApiKeyDisabledError(ApiError):
    """-30: the API key is disabled."""

    code = "-30"


class IpNotWhitelistedError(ApiError):
    """-31: the caller's IP address is not whitelisted."""

    code = "-31"


class PermissionDeniedError(ApiError):
    """-32: the key lacks permission for the application."""

    code = "-32"


class AgentLimitError(ApiError):
    """-36: more agents than the account may create."""

    code = "-36"


class FileTooLargeError(ApiError):
    """-38: the uploaded file is too large."""

    code = "-38"


class FileFormatError(ApiError):
    """-39: the uploaded file's format is wrong."""

    code = "-39"


class TooManyRowsError(ApiError):
    """-40: the number list holds more than 100,000 rows."""

    code = "-40"


class SipBusyError(ApiError):
    """-68 on sendSip: the account is still on a call; nothing was dialed."""

    code = "-68"


def _table(*classes: type[ApiError]) -> dict[str, type[ApiError]]:
    return {cls.code: cls for cls in classes if cls.code is not None}


# Codes every endpoint may answer (vendor pages plus NOTES.md's platform-wide list).
_COMMON = _table(
    AuthenticationError,
    IpRestrictedError,
    RateLimitedError,
    TimestampExpiredError,
    MalformedRequestError,
    InvalidParameterError,
    ApiKeyDisabledError,
    IpNotWhitelistedError,
    PermissionDeniedError,
)
_CALL_CENTER = _COMMON | _table(
    DataExistsError,
    DataValidationError,
    DataCapError,
    DataNotFoundError,
    AgentLimitError,
    FileTooLargeError,
    FileFormatError,
    TooManyRowsError,
)

#: Status code -> error class, per endpoint path (relative to the base URL).
ENDPOINT_ERRORS: Mapping[str, Mapping[str, type[ApiError]]] = {
    "voice/sendSip": _COMMON | _table(InsufficientBalanceError, FeeLookupError, SipBusyError),
    "voice/recordSipQuery": _COMMON | _table(TimeRangeError),
    "voice/recordSip": _COMMON | _table(DataNotFoundError),
    "voice/getRecordingFileUrl": _COMMON | _table(DataNotFoundError),
    "cc/seatGroup/addGroup": _CALL_CENTER,
    "cc/seatGroup/query": _CALL_CENTER,
    "cc/seat/addSeatList": _CALL_CENTER,
    "cc/seat/query": _CALL_CENTER,
    "cc/preview/upload": _CALL_CENTER,
    "cc/preview/submitTask": _CALL_CENTER | _table(InsufficientBalanceError),
    "cc/preview/query": _CALL_CENTER,
}


def error_class(endpoint: str, status: str) -> type[ApiError]:
    """Return the error class for ``status`` answered by ``endpoint``.

    ``endpoint`` may carry a path parameter (``voice/recordSip/123``); the
    longest known prefix decides.  Unknown codes give :class:`ApiError`.

    >>> error_class("voice/sendSip", "-68").__name__
    'SipBusyError'
    >>> error_class("cc/seat/query", "-68").__name__
    'ApiError'
    """
    table = ENDPOINT_ERRORS.get(endpoint)
    if table is None:
        for known in sorted(ENDPOINT_ERRORS, key=len, reverse=True):
            if endpoint.startswith(known + "/"):
                table = ENDPOINT_ERRORS[known]
                break
        else:
            table = _COMMON
    return table.get(status, ApiError)
