"""Keep-alive facts every backend reads the same way: the server's timeout, leftover bytes."""

from __future__ import annotations

from collections.abc import Sequence

import httpcore

__all__ = ["KEEPALIVE_MARGIN", "keepalive_timeout", "leftover", "timeout_of"]

#: Seconds before a server's advertised ``Keep-Alive: timeout=`` at which a connection is
#: dropped: at exactly the advertised second the race remains (31 false unknowns in 400 bursty
#: calls, issue 10); see ``benchmarks/bench_keepalive.py``.
KEEPALIVE_MARGIN = 0.5


def keepalive_timeout(headers: Sequence[tuple[bytes, bytes]]) -> float | None:
    """The ``timeout=N`` a ``Keep-Alive`` answer header advertises, if any."""
    for name, value in headers:
        if name.lower() == b"keep-alive":
            return timeout_of(value)
    return None


def timeout_of(value: bytes) -> float | None:
    """The ``timeout=N`` of one ``Keep-Alive`` header value, if it has a usable one."""
    for part in value.split(b","):
        key, _, number = part.partition(b"=")
        if key.strip().lower() == b"timeout":
            try:
                return max(0.0, float(number.strip()))
            except ValueError:
                return None
    return None


def leftover(conn: httpcore.AsyncHTTP11Connection) -> bool:
    """True when the connection holds bytes past the end of its last answer."""
    state = getattr(conn, "_h11_state", None)
    if state is None:  # pragma: no cover - another httpcore: never reuse blindly
        return True
    data, closed = state.trailing_data
    return bool(data) or bool(closed)
