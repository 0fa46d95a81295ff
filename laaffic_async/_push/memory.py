"""A spool in this process's memory: fast, and lost with the process."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .._core.pushes import ParsedPush
from .spool import Op, finish

__all__ = ["MemoryStore"]


@attrs.define
class _Entry:
    received_at: float
    push: ParsedPush | None  # None once done
    lease_until: float = 0.0


class MemoryStore:
    """The memory store, with the sqlite store's semantics inside one process.

    An acknowledged push whose handler has not returned when the process
    dies is gone: the platform got its 200 and will not send it again.
    Redeliveries are recognised only while the process lives.  Leases
    matter only between sessions of one receiver (a stopped session
    releases what it did not run).
    """

    blocking = False

    def __init__(self, *, window: float) -> None:
        self.window = window
        # Insertion order is arrival order, so pruning pops from the front.
        self._entries: dict[str, _Entry] = {}
        self._lease = 0.0

    def __repr__(self) -> str:
        return f"MemoryStore(entries={len(self._entries)})"

    def open(self, worker: str, lease: float) -> None:
        """Nothing to open; one process is one worker."""
        self._lease = lease

    def apply(self, ops: Sequence[Op], now: float) -> None:
        """Apply ``ops`` in order; every op is finished afterwards."""
        entries = self._entries
        for op in ops:
            if op.kind == "admit":
                op.result = []
                for push in op.pushes:
                    if push.key not in entries:
                        entries[push.key] = _Entry(now, push, now + self._lease)
                        op.result.append(push)
            elif op.kind == "claim":
                op.result = []
                for entry in entries.values():
                    if len(op.result) >= op.limit:
                        break
                    if entry.push is not None and entry.lease_until < now:
                        entry.lease_until = now + self._lease
                        op.result.append(entry.push)
            elif op.kind == "purge":
                self._prune(now - self.window)
            else:
                for key in op.keys:
                    held = entries.get(key)
                    if held is None:
                        continue
                    if op.kind == "done":
                        held.push = None
                    else:
                        held.lease_until = now + self._lease if op.kind == "renew" else 0.0
        finish(ops, None)

    def _prune(self, cutoff: float) -> None:
        kept: list[tuple[str, _Entry]] = []
        while self._entries:
            key = next(iter(self._entries))
            entry = self._entries[key]
            if entry.received_at >= cutoff:
                break
            del self._entries[key]
            if entry.push is not None:
                kept.append((key, entry))  # still pending: never forget it
        self._entries.update(kept)

    def close(self) -> None:
        """Nothing to close (the memory stays until the receiver is dropped)."""
