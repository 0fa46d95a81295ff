"""Retry policy as data: what may be retried, and how long to wait.

The rule that matters: a request that dials people (sendSip, submitTask) is
retried only when it provably did not run.  Read-only queries may be
retried after any transient failure.
"""

from __future__ import annotations

import enum

import attrs

from ..errors import HttpStatusError, LaafficError, RateLimitedError, ResponseFormatError

__all__ = [
    "RetryPolicy",
    "Verdict",
    "after_answer_error",
    "after_download_error",
    "after_transport_failure",
    "backoff_delay",
]


@attrs.frozen
class RetryPolicy:
    """How many times and how patiently to retry.

    ``attempts`` counts every try, the first included.  Delays grow
    exponentially from ``base_delay`` up to ``max_delay``, with equal jitter
    (half of each delay fixed, half random: see :func:`backoff_delay`).
    """

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0


def backoff_delay(policy: RetryPolicy, retry_number: int, jitter: float) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based).

    ``jitter`` is a random number in [0, 1): passing it in keeps this pure.
    Half the delay is fixed and half random ("equal jitter"), so retries of
    many clients spread out but never fire at once.
    """
    ceiling: float = min(policy.max_delay, policy.base_delay * 2.0 ** (retry_number - 1))
    return ceiling / 2 + ceiling / 2 * jitter


class Verdict(enum.Enum):
    """What to do after a failed attempt."""

    RETRY = "retry"  # safe and worth it: wait (backoff_delay), then send again
    RAISE = "raise"  # give the failure to the caller as it is
    UNKNOWN = "unknown"  # the request may have run: raise OutcomeUnknownError, never resend


def after_transport_failure(
    policy: RetryPolicy, attempt: int, *, sent: bool, dials: bool
) -> Verdict:
    """The verdict on a network failure.

    ``sent`` is False only when the request provably never left (a refused
    connect, a pool timeout): then even a dialing request may be retried.
    """
    if sent and dials:
        return Verdict.UNKNOWN
    return Verdict.RETRY if attempt < policy.attempts else Verdict.RAISE


def after_answer_error(
    policy: RetryPolicy, attempt: int, error: LaafficError, *, dials: bool
) -> Verdict:
    """The verdict on an answer that arrived but failed (5xx, bad envelope, -15).

    The server got the request: for a dialing request a 5xx or an unreadable
    answer leaves the outcome unknown.  -15 ("too frequent") says it did not
    run, but a dialing request is not retried behind the caller's back.
    """
    transient = isinstance(error, (ResponseFormatError, RateLimitedError)) or (
        isinstance(error, HttpStatusError) and error.status_code >= 500
    )
    if not transient:
        return Verdict.RAISE
    if dials:
        return Verdict.RAISE if isinstance(error, RateLimitedError) else Verdict.UNKNOWN
    return Verdict.RETRY if attempt < policy.attempts else Verdict.RAISE


def after_download_error(
    policy: RetryPolicy, attempt: int, error: LaafficError, *, dials: bool = False
) -> Verdict:
    """The verdict on a failed recording download (read-only, restarted from the beginning).

    NOTES.md: the download answers HTTP 500 with a text body when it fails (unknown file,
    expired link): that is an answer, not an outage, and is never retried; 502-504 are.
    """
    transient = isinstance(error, HttpStatusError) and error.status_code in (502, 503, 504)
    if transient and attempt < policy.attempts:
        return Verdict.RETRY
    return Verdict.RAISE
