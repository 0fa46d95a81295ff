"""AccountLanes: one call per phone account at a time, the rest queued in order.

sendSip answers -68 to a second call on an account that is still on one,
so sending two at once only burns a request and a rate token.  Memory is
one entry per account that has work, dropped as soon as it has none.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

__all__ = ["AccountLanes"]

T = TypeVar("T")


class AccountLanes(Generic[T]):
    """Admit one item per key; queue the others FIFO until the key is released."""

    def __init__(self) -> None:
        # A key is present while one of its items is admitted; its deque holds the waiters.
        self._lanes: dict[str, deque[T]] = {}

    def __len__(self) -> int:
        """How many keys have an item admitted."""
        return len(self._lanes)

    def admit(self, key: str, item: T) -> bool:
        """True if ``item`` may go now; otherwise it waits behind its key's current item."""
        lane = self._lanes.get(key)
        if lane is None:
            self._lanes[key] = deque()
            return True
        lane.append(item)
        return False

    def release(self, key: str) -> T | None:
        """The admitted item of ``key`` is done: return its next waiter, if any."""
        lane = self._lanes[key]
        if lane:
            return lane.popleft()
        del self._lanes[key]
        return None
