"""Retry policy as data: what may be retried, and how long to wait.

The rule that matters: a request that dials people (sendSip, submitTask) is
retried only when it provably did not run.  Read-only queries may be
retried after any transient failure.
"""

from __future__ import annotations

import attrs

__all__ = ["RetryPolicy", "backoff_delay"]


@attrs.frozen
class RetryPolicy:
    """How many times and how patiently to retry.

    ``attempts`` counts every try, the first included.  Delays grow
    exponentially from ``base_delay`` up to ``max_delay``, with full jitter.
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
