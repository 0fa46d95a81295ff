"""The one retry loop of push delivery, on both ends of a push.

The receiver's dispatcher retries a handler until it returns (capped exponential backoff), and
the sandbox's pusher retries a POST the way the platform does (a fixed delay, a few times).
What each try does, and how long to wait after it, is theirs; counting the tries, waiting
between them and giving up the wait when told to stop is this loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["Attempt", "retry_loop"]

#: ``attempt(n)`` makes try ``n`` (from 1) and answers ``None`` when finished (it succeeded
#: or gave up), else the seconds to wait before try ``n + 1``.
Attempt = Callable[[int], Awaitable[float | None]]


async def retry_loop(attempt: Attempt, *, stop: anyio.Event | None = None) -> bool:
    """Make tries until one finishes; return False if ``stop`` was set during a wait.

    A wait ends early once ``stop`` is set, and no further try is made.
    """
    number = 0
    while True:
        number += 1
        delay = await attempt(number)
        if delay is None:
            return True
        if stop is None:
            await anyio.sleep(delay)
            continue
        with anyio.move_on_after(delay):
            await stop.wait()
        if stop.is_set():
            return False
