"""The retry policy as data: when a retry is safe, and how long to wait."""

from __future__ import annotations

import pytest

from laaffic_async._core.retry import (
    RetryPolicy,
    Verdict,
    after_answer_error,
    after_transport_failure,
    backoff_delay,
)
from laaffic_async.errors import (
    HttpStatusError,
    InvalidParameterError,
    LaafficError,
    RateLimitedError,
    ResponseFormatError,
)

POLICY = RetryPolicy(attempts=3, base_delay=0.2, max_delay=5.0)


@pytest.mark.parametrize(
    ("sent", "dials", "attempt", "verdict"),
    [
        (False, True, 1, Verdict.RETRY),  # refused connect: sendSip never left
        (False, True, 3, Verdict.RAISE),  # ... until the attempts run out
        (True, True, 1, Verdict.UNKNOWN),  # dropped after the body: never dial again
        (True, False, 1, Verdict.RETRY),  # a read-only query may be retried
        (True, False, 3, Verdict.RAISE),
    ],
)
def test_after_transport_failure(sent: bool, dials: bool, attempt: int, verdict: Verdict) -> None:
    assert after_transport_failure(POLICY, attempt, sent=sent, dials=dials) is verdict


E = "voice/sendSip"


@pytest.mark.parametrize(
    ("error", "dials", "attempt", "verdict"),
    [
        (HttpStatusError(500, endpoint=E), True, 1, Verdict.UNKNOWN),
        (HttpStatusError(503, endpoint=E), False, 1, Verdict.RETRY),
        (HttpStatusError(503, endpoint=E), False, 3, Verdict.RAISE),
        (HttpStatusError(404, endpoint=E), False, 1, Verdict.RAISE),
        (HttpStatusError(404, endpoint=E), True, 1, Verdict.RAISE),
        (ResponseFormatError("html", endpoint=E), True, 1, Verdict.UNKNOWN),
        (ResponseFormatError("html", endpoint=E), False, 1, Verdict.RETRY),
        (RateLimitedError("-15", "", endpoint=E), True, 1, Verdict.RAISE),
        (RateLimitedError("-15", "", endpoint=E), False, 2, Verdict.RETRY),
        (InvalidParameterError("-22", "", endpoint=E), False, 1, Verdict.RAISE),
    ],
)
def test_after_answer_error(
    error: LaafficError, dials: bool, attempt: int, verdict: Verdict
) -> None:
    assert after_answer_error(POLICY, attempt, error, dials=dials) is verdict


def test_backoff_grows_and_is_capped_with_equal_jitter() -> None:
    assert backoff_delay(POLICY, 1, 0.0) == pytest.approx(0.1)
    assert backoff_delay(POLICY, 1, 1.0) == pytest.approx(0.2)
    assert backoff_delay(POLICY, 3, 0.5) == pytest.approx(0.6)
    assert backoff_delay(POLICY, 20, 1.0) == pytest.approx(5.0)
    assert backoff_delay(POLICY, 20, 0.0) == pytest.approx(2.5)
