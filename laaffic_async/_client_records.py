"""The client's query side: call records, the call center, recordings and the raw seam.

:class:`~laaffic_async.AsyncClient` inherits these methods; each is a short delegation to the
feature module that does the work, handed the client's caller and task group, never the client
(features stay below it), so the client module stays about building and dialing.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.abc

from . import _recordings
from ._callcenter_models import RecordingUrl
from ._core.requests import ApiRequest
from ._dialing.reconcile import DEFAULT_SETTLE, check_settle, reconcile_call, unknown_subject
from ._io.caller import Caller
from ._paging import records as _records
from ._paging.records import RecordStream
from .callcenter import CallCenter
from .errors import OutcomeUnknownError
from .models import CallOutcome, CallRecord, ReconcileResult, RecordPage

__all__ = ["ClientQueries"]


class ClientQueries:
    """AsyncClient's record, call-center, recording and seam methods (see AsyncClient)."""

    # Set by AsyncClient.__init__ and its ``async with``.
    _caller: Caller
    _task_group: anyio.abc.TaskGroup | None

    def _running_group(self) -> anyio.abc.TaskGroup | None:
        return self._task_group

    # -- call records ------------------------------------------------------------------------

    async def reconcile(
        self, outcome_or_error: CallOutcome | OutcomeUnknownError, *, settle: float = DEFAULT_SETTLE
    ) -> ReconcileResult:
        """Decide from the call records whether an unknown call was placed.

        Takes an :class:`~laaffic_async.errors.OutcomeUnknownError` (or the
        :class:`CallOutcome` holding one) and looks the callee up with
        recordSipQuery: the call's account as ``phoneName``, a window from
        60 s before ``sent_at`` to ``sent_at + settle``.  Returns as soon as
        the record is found (``placed``, with its ``voice_id`` and
        ``record``); otherwise waits until ``sent_at + settle`` on the
        server's clock (default 120 s: records may appear late) and looks
        again before answering ``placed=False``.  Raises
        :class:`~laaffic_async.errors.ReconcileError` when it cannot decide
        (records unreachable, beyond the two-month horizon, no ``sent_at``).
        """
        call, sent_at = unknown_subject(outcome_or_error)
        return await reconcile_call(
            call, sent_at, settle=check_settle(settle), fetch=self.record_page, now=self.now
        )

    async def record_page(
        self,
        start: datetime,
        end: datetime,
        *,
        current: int = 1,
        size: int = 100,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
    ) -> RecordPage:
        """Fetch one raw page of voice/recordSipQuery.

        The window is sent as given (at most 31 days, inside the last two
        months, or the API answers -25); :meth:`records` slices long windows.
        """
        return await _records.fetch_page(
            self._caller,
            start,
            end,
            current=current,
            size=size,
            sip_group_name=sip_group_name,
            phone_name=phone_name,
        )

    def records(
        self,
        start: datetime,
        end: datetime,
        *,
        sip_group_name: str | None = None,
        phone_name: str | None = None,
        page_size: int = 100,
        concurrency: int = 4,
    ) -> RecordStream:
        """Every call record submitted in ``[start, end]``, exactly once (voice/recordSipQuery).

        ``async for record in client.records(start, end): ...``, or
        ``.pages()`` for page-sized batches.  ``start``/``end`` must be aware
        datetimes, ``end`` not before ``start``, ``start`` inside the API's
        two months (60 days by :meth:`now`); all checked here, before any
        request.  Any window length works: it is sliced into 31-day queries,
        pages fetched ``concurrency`` at a time.  Guarantees and costs:
        :class:`~laaffic_async.RecordStream`.
        """
        return _records.stream(
            self._caller,
            self._running_group,
            start,
            end,
            sip_group_name=sip_group_name,
            phone_name=phone_name,
            page_size=page_size,
            concurrency=concurrency,
        )

    # -- call center and recordings ----------------------------------------------------------

    @property
    def call_center(self) -> CallCenter:
        """Call-center management: agent groups, agents, number lists, dialing tasks."""
        return CallCenter(self._caller, self._running_group)

    async def record(self, voice_id: str) -> CallRecord:
        """One call record by its voice id (``GET voice/recordSip/{voiceId}``).

        Raises :class:`~laaffic_async.errors.DataNotFoundError` (-24) for an unknown id.
        """
        return await _recordings.fetch_record(self._caller, voice_id)

    async def recording_url(self, recording_file_id: str, source_type: str = "sip") -> RecordingUrl:
        """A time-limited download link for a recording (voice/getRecordingFileUrl).

        ``recording_file_id`` is :attr:`CallRecord.recording_file_id`;
        ``source_type`` is ``"sip"`` (phone calls) or ``"group"`` (group calls).
        """
        return await _recordings.fetch_recording_url(self._caller, recording_file_id, source_type)

    async def download_recording(
        self, file_id: str, destination: str | os.PathLike[str], *, source_type: str = "sip"
    ) -> Path:
        """Stream a recording to ``destination`` (a file, or a directory to put it in).

        Fetches a fresh link, then writes the body in chunks to a temporary
        file beside the destination and renames it into place: the whole
        recording is never held in memory and no partial file is ever left.
        The link is pre-signed, so no API headers are sent to its host.
        Raises :class:`~laaffic_async.errors.HttpStatusError` when the download
        answers an error (the platform sends HTTP 500 with a text reason).
        Returns the path written.
        """
        return await _recordings.download_recording(self._caller, file_id, destination, source_type)

    # -- the seam ----------------------------------------------------------------------------

    def now(self) -> float:
        """The current time in unix seconds, corrected by the learned server offset."""
        return self._caller.now()

    async def request(self, request: ApiRequest) -> Any:
        """Sign, send and decode one :class:`ApiRequest`, retrying only where safe.

        Returns the envelope's ``data``.  Every endpoint method goes through
        it: each attempt signed afresh, one retry loop (the README's retry
        safety table), every failure mapped into the error tree.
        """
        return await self._caller.request(request)
