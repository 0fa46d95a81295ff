"""RedisSpool: a push spool shared by every replica (work in progress)."""

from __future__ import annotations

__all__ = ["RedisSpool"]


class RedisSpool:
    """Placeholder until the push-fleet work lands."""
