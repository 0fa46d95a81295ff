"""Small parts of the coordinator: its counters, what a script answered, a lease, checks."""

from __future__ import annotations

import anyio
import attrs

from .._dialing.limits import positive_rate
from ..errors import RequestValidationError

__all__ = [
    "FULL",
    "Answer",
    "CoordinatorStats",
    "Lease",
    "Wakeup",
    "check_lease",
    "check_namespace",
    "text",
]


class Wakeup:
    """Wake every task waiting right now (a re-armed event; made lazily, inside a loop)."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    def wake(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()


@attrs.define
class Lease:
    account_key: str
    #: The Redis lifetime it was taken (or last renewed) in: see RENEW in _scripts.py.
    epoch: str


@attrs.frozen
class Answer:
    """What one ACQUIRE said: admitted (start in ``delay_us``), or why not."""

    admitted: bool
    delay_us: int = 0
    full: bool = False
    ttl_ms: int = 0
    epoch: str = ""


FULL = Answer(False, full=True)


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@attrs.define
class CoordinatorStats:
    """Counters of one coordinator (this process only)."""

    #: Script calls sent to Redis (each one round trip; a NOSCRIPT reload counts twice).
    round_trips: int = 0
    #: Requests admitted, and attempts refused because the fleet or the account was busy.
    admitted: int = 0
    refused_full: int = 0
    refused_account: int = 0
    #: Renewal calls, and leases they had to re-create (Redis lost them).
    renewals: int = 0
    restored: int = 0
    #: Redis operations that failed or timed out.
    failures: int = 0


def check_lease(value: object) -> float:
    seconds = positive_rate("lease_seconds", value)
    if seconds < 0.1:
        raise RequestValidationError("lease_seconds", "must be at least 0.1", value)
    return seconds


def check_namespace(value: object) -> str:
    if not isinstance(value, str) or not value or "{" in value or "}" in value:
        rule = "must be a non-empty string without braces (it is the Redis Cluster hash tag)"
        raise RequestValidationError("namespace", rule, value)
    return value
