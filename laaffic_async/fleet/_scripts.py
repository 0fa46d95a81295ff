"""The Lua scripts behind :class:`RedisCoordinator`, and the keys they touch.

Each script is one atomic step on the server, so no read-modify-write ever
runs from Python.  Times are the Redis server's own clock (``TIME``) in
milliseconds, so workers on hosts with skewed clocks still agree; a test may
pass ``now`` explicitly instead.  Every key of a namespace carries the hash
tag ``{namespace}``, so in Redis Cluster they live in one slot and a script
may touch them together.

Keys of namespace ``ns``:

* ``laaffic:{ns}:rate``: the GCRA "theoretical arrival time" (ms) of the next start;
* ``laaffic:{ns}:slots``: a sorted set of lease ids scored by their expiry (ms);
* ``laaffic:{ns}:account:<account>``: the lease id holding that account (``SET NX PX``);
* ``laaffic:{ns}:epoch``: an id naming this Redis's lifetime (gone after an empty restart).
"""

from __future__ import annotations

import hashlib

import attrs

__all__ = ["ACQUIRE", "RELEASE", "RENEW", "FleetKeys", "Script"]


@attrs.frozen
class Script:
    """A Lua source and its SHA1 (what ``EVALSHA`` names it by)."""

    source: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


@attrs.frozen
class FleetKeys:
    """The key names of one namespace."""

    namespace: str

    @property
    def rate(self) -> str:
        return f"laaffic:{{{self.namespace}}}:rate"

    @property
    def slots(self) -> str:
        return f"laaffic:{{{self.namespace}}}:slots"

    @property
    def epoch(self) -> str:
        return f"laaffic:{{{self.namespace}}}:epoch"

    def account(self, account: str) -> str:
        return f"laaffic:{{{self.namespace}}}:account:{account}"


# Shared prelude: the server clock in ms, or ARGV's explicit one (tests).
_NOW = """
local function clock(given)
  if given ~= nil and given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
"""

#: KEYS: rate, slots, account, epoch.  ARGV: lease id, interval ms (0: no rate),
#: capacity (0: no cap), lease ms, now ms ('' = server clock).
#: Returns {1, delay us, epoch} when admitted (start in `delay`), {0, 1} when every slot
#: is taken, {0, 2, ttl ms} when the account is held.  Nothing is booked unless
#: admitted: a refused attempt costs no rate and no slot.
ACQUIRE = Script(
    _NOW
    + """
local id, interval = ARGV[1], tonumber(ARGV[2])
local capacity, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = clock(ARGV[5])
-- A dead worker's slots are purged here, by whoever asks next: no reaper process.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if capacity > 0 and redis.call('ZCARD', KEYS[2]) >= capacity then
  return {0, 1}
end
local held = redis.call('PTTL', KEYS[3])
if held ~= -2 then
  return {0, 2, held}
end
local delay = 0
if interval > 0 then
  -- GCRA with a burst of one: starts are spaced by `interval`, each call booking the
  -- next free instant and sleeping until it.
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  local start = math.max(tat, now)
  local after = start + interval
  redis.call('SET', KEYS[1], string.format('%.3f', after), 'PX', math.ceil(after - now) + 1000)
  delay = start - now
end
redis.call('ZADD', KEYS[2], now + delay + lease, id)
redis.call('SET', KEYS[3], id, 'PX', math.ceil(delay + lease))
-- The epoch names this Redis's lifetime: a Redis restarted empty gets a new one.
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  epoch = id
  redis.call('SET', KEYS[4], epoch)
end
return {1, math.floor(delay * 1000), epoch}
"""
)

#: KEYS: slots, account.  ARGV: lease id.  Gives back the slot and the account (only
#: if this lease still holds it: after an expiry another worker may).
RELEASE = Script(
    """
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
"""
)

#: KEYS: slots, epoch, then one account key per lease.  ARGV: lease ms, now ms ('' =
#: server clock), a fresh epoch id (used if Redis has none), then per lease its id and
#: the epoch it was taken in.  Pushes every live lease's expiry to at least now + lease.
#: A lease missing from the current epoch was released or expired: left alone (a
#: release racing this renewal must win).  A lease of an older epoch was lost with a
#: restarted Redis: re-created, unless another worker took its account meanwhile.
#: Returns {how many were re-created, the current epoch}.
RENEW = Script(
    _NOW
    + """
local lease = tonumber(ARGV[1])
local now = clock(ARGV[2])
local until_ = now + lease
local current = redis.call('GET', KEYS[2])
if not current then
  current = ARGV[3]
  redis.call('SET', KEYS[2], current)
end
local restored = 0
for i = 3, #KEYS do
  local id, epoch = ARGV[2 * i - 2], ARGV[2 * i - 1]
  local lost = epoch ~= current
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) < until_ then
    redis.call('ZADD', KEYS[1], until_, id)
  elseif not score and lost then
    restored = restored + 1
    redis.call('ZADD', KEYS[1], until_, id)
  end
  local owner = redis.call('GET', KEYS[i])
  if owner == id and redis.call('PTTL', KEYS[i]) < lease then
    redis.call('PEXPIRE', KEYS[i], math.ceil(lease))
  elseif not owner and lost then
    redis.call('SET', KEYS[i], id, 'PX', math.ceil(lease))
  end
end
return {restored, current}
"""
)
