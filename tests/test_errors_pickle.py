"""Every error the SDK raises survives pickling (process pools, fleet workers' queues)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from laaffic_async import Call, errors
from laaffic_async.errors import ApiError, LaafficError

CALL = Call(callee="932111111111", account="a", app_id="4luaKsL2")
SENT = datetime(2026, 12, 5, 1, 2, 3, tzinfo=UTC)

SAMPLES: dict[type[LaafficError], LaafficError] = {
    errors.LaafficError: errors.LaafficError("plain"),
    errors.RequestValidationError: errors.RequestValidationError("callee", "digits only", "x1"),
    errors.TransportError: errors.TransportError("ConnectError: refused", endpoint="voice/sendSip"),
    errors.CoordinationError: errors.CoordinationError("redis is down"),
    errors.OutcomeUnknownError: errors.OutcomeUnknownError(
        "ReadTimeout", endpoint="voice/sendSip", request=CALL, sent_at=SENT
    ),
    errors.NotPlacedError: errors.NotPlacedError("absent from the records", request=CALL),
    errors.ReconcileError: errors.ReconcileError("query failed", request=CALL),
    errors.JournalError: errors.JournalError("locked"),
    errors.HttpStatusError: errors.HttpStatusError(502, endpoint="voice/sendSip", body="bad"),
    errors.ResponseFormatError: errors.ResponseFormatError("not JSON", endpoint="x"),
    errors.PaginationError: errors.PaginationError("changed"),
}


def _every_error_class() -> list[type[LaafficError]]:
    found = [getattr(errors, name) for name in errors.__all__]
    return [c for c in found if isinstance(c, type) and issubclass(c, LaafficError)]


def _sample(cls: type[LaafficError]) -> LaafficError:
    if cls in SAMPLES:
        return SAMPLES[cls]
    assert issubclass(cls, ApiError), f"add a sample for {cls.__name__}"
    return cls(cls.code or "-99", "refused", endpoint="voice/sendSip", context={"page": 2})


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__name__)
def test_every_error_pickles_with_its_attributes(cls: type[LaafficError]) -> None:
    error = _sample(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)


def test_the_tree_is_covered() -> None:
    classes = _every_error_class()
    assert errors.SipBusyError in classes
    assert len(classes) >= len(SAMPLES) + 20  # the ApiError classes, one per status code
