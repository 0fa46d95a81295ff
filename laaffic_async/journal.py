"""Crash-safe dialing: a write-ahead journal of calls, so a killed dialer resumes without redialing.

::

    from laaffic_async.journal import DialJournal

    async with DialJournal("campaign.sqlite3") as journal:
        async for outcome in client.send_many(calls, journal=journal):
            ...   # every call needs a ``ref``; outcome.replayed marks earlier runs' outcomes

The journal is one sqlite file in WAL mode, keyed by :attr:`Call.ref
<laaffic_async.Call.ref>`.  A call is marked in flight (ref, callee,
account, the moment it leaves on the server's clock) and that mark is
committed *before* its request can leave; its outcome is written after.
Writes run in a worker thread, never on the event loop, and are committed
in groups: every call waiting for a commit joins the next one, so a batch
of 200 calls in flight costs a handful of commits, not 400.

One process owns a journal at a time: opening it takes an exclusive
``flock`` on ``<path>-lock`` (released by the kernel when the process dies,
kill -9 included), and a second opener gets
:class:`~laaffic_async.errors.JournalError` at once (a second
``DialJournal`` on the same file in the same process too).  A fleet gives
each worker its own journal over its own share of the input.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import anyio
import attrs

from .errors import JournalError, LaafficError, NotPlacedError, OutcomeUnknownError
from .models import Call, CallOutcome, ReconcileResult

__all__ = ["DialJournal", "JournalEntry", "ReconcileResult", "State"]

#: A journaled call's state: ``inflight`` (marked, request may have left),
#: ``placed``, ``failed`` (refused: nothing ran), ``unknown`` (may have run),
#: ``unplaced`` (provably not placed: reconciled absent, or -68 busy).
State = Literal["inflight", "placed", "failed", "unknown", "unplaced"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    ref TEXT PRIMARY KEY,
    callee TEXT NOT NULL,
    account TEXT NOT NULL,
    state TEXT NOT NULL,
    sent_at REAL,
    voice_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID
"""
# Reconciliation asks which voice ids other rows of the same callee already own.
_INDEX = "CREATE INDEX IF NOT EXISTS calls_by_callee ON calls (callee)"
_MARK = (
    "INSERT INTO calls (ref, callee, account, state, sent_at, attempts) "
    "VALUES (?, ?, ?, 'inflight', ?, 1) ON CONFLICT (ref) DO UPDATE SET "
    "callee = excluded.callee, account = excluded.account, state = 'inflight', "
    "sent_at = excluded.sent_at, voice_id = NULL, error = NULL, attempts = attempts + 1"
)
_FINISH = "UPDATE calls SET state = ?, voice_id = ?, error = ? WHERE ref = ?"
# sqlite's default limit on host parameters is 999 on old builds.
_LOOKUP_CHUNK = 500


@attrs.frozen
class JournalEntry:
    """One call as the journal holds it (``sent_at`` is the latest attempt's)."""

    ref: str
    callee: str
    account: str
    state: State
    sent_at: datetime | None
    voice_id: str | None
    error: str | None
    attempts: int

    def as_outcome(
        self, call: Call, *, index: int | None = None, replayed: bool = False
    ) -> CallOutcome:
        """This entry as the :class:`CallOutcome` of ``call``.

        ``placed`` gives a success with the voice id; ``failed`` and
        ``unplaced`` a :class:`~laaffic_async.errors.NotPlacedError` (its
        reason is what the journal recorded); ``inflight`` and ``unknown``
        an :class:`~laaffic_async.errors.OutcomeUnknownError`.
        """
        attempts = max(self.attempts, 1)
        if self.state == "placed":
            return CallOutcome(
                call, voice_id=self.voice_id, attempts=attempts, index=index, replayed=replayed
            )
        error: LaafficError
        if self.state in ("failed", "unplaced"):
            error = NotPlacedError(self.error or "in an earlier run", request=call)
        else:
            error = OutcomeUnknownError(
                self.error or f"left {self.state} by an earlier run",
                endpoint="voice/sendSip",
                request=call,
                sent_at=self.sent_at,
            )
        return CallOutcome(call, error=error, attempts=attempts, index=index, replayed=replayed)


def _lock(path: Path) -> int:
    try:
        fd = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalError(f"{path}: cannot open the journal's lock file: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(
            f"{path} is in use by another dialer (its lock {path}-lock is held): "
            "one journal per process; give each worker its own"
        ) from None
    return fd


class DialJournal:
    """A sqlite write-ahead journal for ``send_many(..., journal=...)`` (see the module docstring).

    Opening takes the lock and creates the file if needed (raises
    :class:`~laaffic_async.errors.JournalError` if another process holds
    it).  ``fsync=True`` (default) commits with ``synchronous=FULL``, which
    survives a power cut; ``fsync=False`` uses ``NORMAL``, which survives a
    killed process (the OS keeps the write) and is cheaper.  Reusable by
    several runs in turn; close it with ``aclose()`` or ``async with``.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = _lock(self.path)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            db.execute(_SCHEMA)
            db.execute(_INDEX)
        except sqlite3.Error as exc:
            os.close(self._lock_fd)
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from exc
        self._db: sqlite3.Connection | None = db
        # One thread at a time on the connection: the commit leader or a lookup.
        self._db_lock = threading.Lock()
        self._queue: list[tuple[str, tuple[object, ...]]] = []
        self._enqueued = 0
        self._committed = 0
        self._committing: anyio.Event | None = None
        self._broken: JournalError | None = None
        self._in_use = False
        #: How many group commits were made (for tests and benchmarks).
        self.commits = 0

    def __repr__(self) -> str:
        return f"DialJournal({str(self.path)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the file and release the lock (idempotent)."""
        await anyio.to_thread.run_sync(self.close)

    def close(self) -> None:
        """Synchronous :meth:`aclose`, for code outside an event loop."""
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing the descriptor releases the flock
                self._lock_fd = None

    # -- writes: group-committed, each call waits until its own write is durable --------------

    async def mark_sent(self, call: Call, sent_at: float) -> None:
        """Mark ``call`` in flight at ``sent_at`` (unix seconds); returns once it is committed."""
        if call.ref is None:
            raise JournalError("a journaled call needs a ref")
        await self._write(_MARK, (call.ref, call.callee, call.account, sent_at))

    async def mark_outcome(
        self, ref: str, state: State, *, voice_id: str | None = None, error: str | None = None
    ) -> None:
        """Record what became of ``ref``'s latest attempt; returns once committed."""
        await self._write(_FINISH, (state, voice_id, error, ref))

    async def _write(self, sql: str, params: tuple[object, ...]) -> None:
        self._queue.append((sql, params))
        self._enqueued += 1
        ticket = self._enqueued
        while self._committed < ticket and self._broken is None:
            if self._committing is not None:
                await self._committing.wait()
            else:
                await self._commit_queued()
        if self._broken is not None:
            raise self._broken

    async def _commit_queued(self) -> None:
        # This task leads one group commit of everything queued so far; writers that
        # arrive meanwhile queue up for the next one.
        done = self._committing = anyio.Event()
        ops, self._queue = self._queue, []
        upto = self._enqueued
        try:
            # Shielded: a cancelled leader must not leave the others' writes half-done;
            # the group is committed (or the journal broken) before anyone is told.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._apply, ops)
        except Exception as exc:
            self._broken = JournalError(f"{self.path}: cannot write the journal: {exc}")
            self._broken.__cause__ = exc
        finally:
            self._committed = upto
            self._committing = None
            done.set()

    def _apply(self, ops: list[tuple[str, tuple[object, ...]]]) -> None:
        with self._db_lock:
            db = self._open_db()
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in ops:
                    db.execute(sql, params)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self.commits += 1

    def _open_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError(f"{self.path}: the journal is closed")
        return self._db

    def claim(self) -> None:
        """Mark the journal used by a run (one at a time: two would dial the same refs)."""
        if self._in_use:
            raise JournalError(f"{self.path} is already used by a running send_many()")
        self._open_db()
        self._in_use = True

    def release(self) -> None:
        """End :meth:`claim`."""
        self._in_use = False

    # -- reads ---------------------------------------------------------------------------

    async def voice_ids(self, callee: str, account: str, *, other_than: str) -> set[str]:
        """Voice ids of rows other than ``other_than`` placed to ``callee`` from ``account``.

        Reconciliation leaves these records out: they belong to other rows.
        """
        return await anyio.to_thread.run_sync(self._voice_ids, callee, account, other_than)

    def _voice_ids(self, callee: str, account: str, other_than: str) -> set[str]:
        with self._db_lock:
            rows = self._open_db().execute(
                "SELECT voice_id FROM calls WHERE callee = ? AND account = ? AND ref != ? "
                "AND state = 'placed' AND voice_id IS NOT NULL",
                (callee, account, other_than),
            )
            return {voice_id for (voice_id,) in rows}

    async def lookup(self, refs: Iterable[str]) -> dict[str, JournalEntry]:
        """The entries the journal holds for ``refs`` (absent refs are left out)."""
        wanted = list(refs)
        return await anyio.to_thread.run_sync(self._lookup, wanted)

    async def entry(self, ref: str) -> JournalEntry | None:
        """The entry for one ``ref``, or ``None``."""
        return (await self.lookup([ref])).get(ref)

    async def retry_failed(self) -> int:
        """Let the next run dial the calls that failed (e.g. -10 before a top-up); return how many.

        A failed call is final, so a rerun replays it; this turns every
        ``failed`` row into ``unplaced`` (nothing ran), which a run with
        ``redial_unplaced=True`` dials.  Placed, unknown and in-flight rows
        are never touched.  Not while a run uses the journal.
        """
        if self._in_use:
            raise JournalError(f"{self.path} is used by a running send_many()")
        return await anyio.to_thread.run_sync(self._retry_failed)

    def _retry_failed(self) -> int:
        with self._db_lock:
            cursor = self._open_db().execute(
                "UPDATE calls SET state = 'unplaced' WHERE state = 'failed'"
            )
            return cursor.rowcount

    async def counts(self) -> dict[str, int]:
        """How many calls are in each state (e.g. to report a campaign's progress)."""
        return await anyio.to_thread.run_sync(self._counts)

    def _counts(self) -> dict[str, int]:
        with self._db_lock:
            rows = self._open_db().execute("SELECT state, count(*) FROM calls GROUP BY state")
            return dict(rows)

    def _lookup(self, refs: list[str]) -> dict[str, JournalEntry]:
        found: dict[str, JournalEntry] = {}
        with self._db_lock:
            db = self._open_db()
            for start in range(0, len(refs), _LOOKUP_CHUNK):
                chunk = refs[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT ref, callee, account, state, sent_at, voice_id, error, attempts "
                    f"FROM calls WHERE ref IN ({marks})",
                    chunk,
                )
                for ref, callee, account, state, sent_at, voice_id, error, attempts in rows:
                    moment = None if sent_at is None else datetime.fromtimestamp(sent_at, UTC)
                    found[ref] = JournalEntry(
                        ref, callee, account, state, moment, voice_id, error, attempts
                    )
        return found
