"""RedisCoordinator: fleet-wide dialing budgets (work in progress)."""

from __future__ import annotations

__all__ = ["RedisCoordinator"]


class RedisCoordinator:
    """Placeholder until the fleet-dialing work lands."""
