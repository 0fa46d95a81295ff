"""Shared state for a fleet of processes and hosts, kept in Redis (extra: ``laaffic-async[redis]``).

* :class:`RedisCoordinator`: the dialing budgets (rate, concurrency, one call per account)
  shared by every client with the same Redis and namespace.
* :class:`RedisSpool`: a push receiver's spool shared by every replica.

Redis is reached with coredis, which is built on anyio and so runs on asyncio and trio.
"""

from ._coordinator import RedisCoordinator
from ._parts import CoordinatorStats
from ._spool import RedisSpool

__all__ = ["CoordinatorStats", "RedisCoordinator", "RedisSpool"]
