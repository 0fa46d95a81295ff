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

from ._api_errors import ENDPOINT_ERRORS as ENDPOINT_ERRORS
from ._api_errors import (
    AgentLimitError,
    ApiError,
    ApiKeyDisabledError,
    AuthenticationError,
    DataCapError,
    DataExistsError,
    DataNotFoundError,
    DataValidationError,
    FeeLookupError,
    FileFormatError,
    FileTooLargeError,
    InsufficientBalanceError,
    InvalidParameterError,
    IpNotWhitelistedError,
    IpRestrictedError,
    MalformedRequestError,
    PermissionDeniedError,
    RateLimitedError,
    SipBusyError,
    TimeRangeError,
    TimestampExpiredError,
    TooManyRowsError,
    error_class,
)
from ._sdk_errors import (
    CoordinationError,
    HttpStatusError,
    JournalError,
    LaafficError,
    NotPlacedError,
    OutcomeUnknownError,
    PaginationError,
    ReconcileError,
    RequestValidationError,
    ResponseFormatError,
    TransportError,
)

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


# Each class keeps the home users import it from, and that tracebacks, reprs and pickles name.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
