"""Importing the Redis client, with the extra to install when it is missing."""

from __future__ import annotations

from types import ModuleType

__all__ = ["import_coredis"]


def import_coredis() -> ModuleType:
    """Return the ``coredis`` module, or raise ImportError naming the extra."""
    try:
        import coredis
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise ImportError(
            "laaffic_async.fleet needs the redis extra: pip install 'laaffic-async[redis]'"
        ) from exc
    return coredis
