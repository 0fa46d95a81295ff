"""Errors the API answers: :class:`ApiError`, a class per status code, the per-endpoint table.

Imported from :mod:`laaffic_async.errors` (where the tree is drawn), like the SDK's own errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._sdk_errors import LaafficError

__all__ = [
    "ENDPOINT_ERRORS",
    "AgentLimitError",
    "ApiError",
    "ApiKeyDisabledError",
    "AuthenticationError",
    "DataCapError",
    "DataExistsError",
    "DataNotFoundError",
    "DataValidationError",
    "FeeLookupError",
    "FileFormatError",
    "FileTooLargeError",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "IpNotWhitelistedError",
    "IpRestrictedError",
    "MalformedRequestError",
    "PermissionDeniedError",
    "RateLimitedError",
    "SipBusyError",
    "TimeRangeError",
    "TimestampExpiredError",
    "TooManyRowsError",
    "error_class",
]


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
