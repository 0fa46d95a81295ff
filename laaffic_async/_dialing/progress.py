"""BatchProgress: live counters of a batch, for metrics endpoints and progress bars."""

from __future__ import annotations

import time

import attrs

__all__ = ["BatchProgress"]


@attrs.define
class BatchProgress:
    """Live counters of a batch, for metrics and progress bars.

    Pass one as ``progress=`` and read it from anywhere (a metrics endpoint,
    another task), or pass a callable to be called with it after each
    finished call.  ``placed + failed + unknown`` calls are finished;
    ``cancelled`` counts requests cut off in flight when the batch was
    stopped early (they may or may not have been placed, and get no outcome).
    """

    read: int = 0
    placed: int = 0
    failed: int = 0
    unknown: int = 0
    busy: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    cancelled: int = 0
    started_at: float = attrs.field(factory=time.monotonic)
    finished_at: float | None = None

    @property
    def done(self) -> int:
        """Calls with an outcome: placed, failed or unknown."""
        return self.placed + self.failed + self.unknown

    @property
    def pending(self) -> int:
        """Calls read from the input and not finished (in flight, queued or resting)."""
        return self.read - self.done - self.cancelled

    @property
    def elapsed(self) -> float:
        """Seconds since the batch started (until it finished, once it has)."""
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return max(end - self.started_at, 0.0)

    @property
    def rate(self) -> float:
        """Finished calls per second, averaged since the start."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0
