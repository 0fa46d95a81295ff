"""Switchable faults: the sandbox misbehaves the way networks and servers do."""

from __future__ import annotations

import random

import attrs


@attrs.define
class Faults:
    """What should go wrong, and how often (rates are probabilities 0-1).

    * ``latency``: seconds every request takes (plus up to ``jitter`` more);
    * ``error_rate``: answer HTTP ``error_status`` (500; 502 is what a gateway
      in front of the platform answers) *before* doing anything: nothing ran;
    * ``drop_rate``: do the work (a dial is placed and counted), then drop the
      connection before the answer is complete: the client cannot know;
    * ``drop_before_rate``: drop the connection without doing anything;
    * ``refuse_connections``: the next N connection attempts fail (only with
      :class:`SandboxTransport`, where "connecting" is simulated);
    * ``endpoints``: if set, only these endpoint paths misbehave;
    * ``limit``: if set, at most this many faults are injected in all
      (``Faults(error_rate=1.0, limit=2)``: the first two requests fail).

    Faults draw from their own seeded random generator, so a test that sets
    ``seed`` sees the same faults on every run.
    """

    latency: float = 0.0
    jitter: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    drop_rate: float = 0.0
    drop_before_rate: float = 0.0
    refuse_connections: int = 0
    endpoints: frozenset[str] | None = None
    limit: int | None = None
    seed: int | None = None
    #: How many faults were injected so far.
    injected: int = 0
    _rng: random.Random = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def applies(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def roll(self, rate: float) -> bool:
        if rate <= 0 or (self.limit is not None and self.injected >= self.limit):
            return False
        if self._rng.random() < rate:
            self.injected += 1
            return True
        return False

    def delay(self) -> float:
        return self.latency + (self._rng.random() * self.jitter if self.jitter else 0.0)
