"""laaffic-async: an asyncio SDK for the Laaffic voice API (also sold as Itniotech and Onbuka)."""

import warnings as _warnings
from typing import Any as _Any

from ._callcenter_models import (
    Agent,
    AgentGroup,
    AgentPage,
    AgentRecord,
    GroupPage,
    RecordingUrl,
    Task,
    TaskPage,
    TaskSubmission,
    TaskType,
    UploadedNumbers,
)
from ._client import ITNIOTECH, LAAFFIC, ONBUKA, AsyncClient
from ._core.retry import RetryPolicy
from ._core.windows import TimeSlice
from ._dialing.batch import Batch, BatchProgress
from ._dialing.limits import ConcurrencyLimit, DialLimits, RateLimiter
from ._io.stack import Backend as HttpBackend
from ._paging.export import ExportResult, export_records
from ._paging.liststream import ListStream
from ._paging.records import RecordBatch, RecordProgress, RecordStream
from ._push.receiver import PushReceiver, PushStats
from ._version import __version__
from .callcenter import CallCenter
from .errors import (
    AgentLimitError,
    ApiError,
    ApiKeyDisabledError,
    AuthenticationError,
    CoordinationError,
    DataCapError,
    DataExistsError,
    DataNotFoundError,
    DataValidationError,
    FeeLookupError,
    FileFormatError,
    FileTooLargeError,
    HttpStatusError,
    InsufficientBalanceError,
    InvalidParameterError,
    IpNotWhitelistedError,
    IpRestrictedError,
    JournalError,
    LaafficError,
    MalformedRequestError,
    NotPlacedError,
    OutcomeUnknownError,
    PaginationError,
    PermissionDeniedError,
    RateLimitedError,
    ReconcileError,
    RequestValidationError,
    ResponseFormatError,
    SipBusyError,
    TimeRangeError,
    TimestampExpiredError,
    TooManyRowsError,
    TransportError,
)
from .events import AgentRinging, CallCenterRecord, PushEvent, UnknownPush, VoiceReport
from .models import (
    Call,
    CallOutcome,
    CallRecord,
    PlacedCall,
    ReconcileResult,
    RecordPage,
)

__all__ = [
    "ITNIOTECH",
    "LAAFFIC",
    "ONBUKA",
    "Agent",
    "AgentGroup",
    "AgentLimitError",
    "AgentPage",
    "AgentRecord",
    "AgentRinging",
    "ApiError",
    "ApiKeyDisabledError",
    "AsyncClient",
    "AuthenticationError",
    "Batch",
    "BatchProgress",
    "Call",
    "CallCenter",
    "CallCenterRecord",
    "CallOutcome",
    "CallRecord",
    "ConcurrencyLimit",
    "CoordinationError",
    "DataCapError",
    "DataExistsError",
    "DataNotFoundError",
    "DataValidationError",
    "DialLimits",
    "ExportResult",
    "FeeLookupError",
    "FileFormatError",
    "FileTooLargeError",
    "GroupPage",
    "HttpBackend",
    "HttpStatusError",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "IpNotWhitelistedError",
    "IpRestrictedError",
    "JournalError",
    "LaafficError",
    "ListStream",
    "MalformedRequestError",
    "NotPlacedError",
    "OutcomeUnknownError",
    "PaginationError",
    "PermissionDeniedError",
    "PlacedCall",
    "PushEvent",
    "PushReceiver",
    "PushStats",
    "RateLimitedError",
    "RateLimiter",
    "ReconcileError",
    "ReconcileResult",
    "RecordBatch",
    "RecordPage",
    "RecordProgress",
    "RecordStream",
    "RecordingUrl",
    "RequestValidationError",
    "ResponseFormatError",
    "RetryPolicy",
    "SipBusyError",
    "Task",
    "TaskPage",
    "TaskSubmission",
    "TaskType",
    "TimeRangeError",
    "TimeSlice",
    "TimestampExpiredError",
    "TooManyRowsError",
    "TransportError",
    "UnknownPush",
    "UploadedNumbers",
    "VoiceReport",
    "__version__",
    "export_records",
]


def __getattr__(name: str) -> _Any:
    # Deprecated names, still importable: nothing public takes a Credentials (the
    # client takes api_key and api_secret), so it left __all__ in 0.2.
    if name == "Credentials":
        _warnings.warn(
            "laaffic_async.Credentials is deprecated: pass api_key and api_secret to "
            "AsyncClient (or set LAAFFIC_API_KEY / LAAFFIC_API_SECRET)",
            DeprecationWarning,
            stacklevel=2,
        )
        from .models import Credentials

        return Credentials
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
