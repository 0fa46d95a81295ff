"""The one paging driver: ``concurrency`` fetch workers over a walk's jobs, on asyncio and trio.

An async generator must not yield inside a task group or cancel scope
(anyio's rule), so the workers live either in a task group someone else owns
(an entered ``AsyncClient``'s) for the whole walk, under a cancel scope of
the driver's own, or, without one, in a task group the driver opens in
:meth:`Driver.wait` and leaves, requests finished, before the generator
yields.  Both run the same worker loop over the same plan.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup

__all__ = ["Driver", "Jobs"]

J = TypeVar("J")


class Jobs(Protocol[J]):
    """What the driver works through (the walker): jobs planned in delivery order."""

    @property
    def concurrency(self) -> int:
        """Workers to run."""
        ...

    @property
    def planned(self) -> bool:
        """True once no job is left to plan."""
        ...

    def ready(self) -> bool:
        """True when the consumer's next item is ready."""
        ...

    def plan(self, limit: int) -> list[J]:
        """Up to ``limit`` jobs to run now (none while the prefetch budget is spent)."""
        ...

    async def run(self, job: J) -> None:
        """Do one job."""
        ...


@attrs.define
class Driver(Generic[J]):
    """The fetch workers, in someone else's task group for the whole walk or in one of ours
    between two yields (see the module doc)."""

    walker: Jobs[J]
    owner: TaskGroup | None
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    failure: Exception | None = None
    started: bool = False
    stopped: bool = False
    _event: anyio.Event = attrs.field(factory=anyio.Event)

    @classmethod
    def start(cls, walker: Jobs[J], task_group: TaskGroup | None) -> Driver[J]:
        driver = cls(walker, task_group)
        if task_group is not None:
            task_group.start_soon(driver._run)
        return driver

    async def wait(self) -> None:
        """Until the next chunk is ready; raises what stopped the workers, if something did."""
        if self.failure is not None:
            raise self.failure
        if self.owner is not None:
            if self.stopped:
                raise RuntimeError("the task group paging ran in was closed mid-walk")
            await self.changed()
            return
        # A fetch need not yield to the event loop (an in-process transport, a cache), and
        # trio delivers cancellation only at checkpoints: make sure every wait has one.
        await anyio.lowlevel.checkpoint()
        async with anyio.create_task_group() as group:
            for _ in range(self.walker.concurrency):
                group.start_soon(self._worker, group.cancel_scope, True)
        if self.failure is not None:
            raise self.failure

    async def close(self) -> None:
        # Stop the workers and wait for them (shielded: this also runs when cancelled), so
        # that no request of this walk is in flight once the generator is closed.
        self.scope.cancel()
        if self.started:
            with anyio.CancelScope(shield=True):
                while not self.stopped:
                    await self.changed()

    def notify(self) -> None:
        """Wake whoever waits: a chunk landed, a job failed, or the consumer made room."""
        self._event.set()
        self._event = anyio.Event()

    async def changed(self) -> None:
        await self._event.wait()

    async def _run(self) -> None:
        if self.scope.cancel_called:
            return  # closed before this task got to run: nothing to stop, nobody waits
        self.started = True
        try:
            with self.scope:
                async with anyio.create_task_group() as group:
                    for _ in range(self.walker.concurrency):
                        group.start_soon(self._worker, self.scope, False)
        finally:
            self.stopped = True
            self.notify()

    async def _worker(self, scope: anyio.CancelScope, between_yields: bool) -> None:
        walker = self.walker
        while True:
            jobs = walker.plan(limit=1)
            if not jobs:
                if walker.planned or (between_yields and walker.ready()):
                    return
                await self.changed()  # a chunk landed, or the consumer took one
                continue
            try:
                await walker.run(jobs[0])
            except Exception as exc:
                # Never into the owner's task group: the consumer raises it.
                self.failure = self.failure or exc
                scope.cancel()
                return
            finally:
                self.notify()
