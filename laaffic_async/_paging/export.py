"""Resumable export of call records to CSV or JSON Lines, atomically.

What ``laaffic-async records export`` runs; usable from code too::

    async with AsyncClient() as client:
        result = await export_records(client, since, until, "calls.csv")

File format
-----------
Columns are the recordSipQuery page's own field names (``voiceId``,
``submitTime``, ... ``currency``: :data:`COLUMNS`), so the file reads like
the vendor's documentation and the API's JSON.  Times are ISO-8601 with the
offset the server sent, money is the exact decimal string (never a float),
absent fields are empty (CSV) or ``null`` (JSONL).  CSV has a header line
and RFC 4180 ``\\r\\n`` line ends; JSONL one object per line.  Rows come
slice by slice in the server's order (see
:class:`~laaffic_async.RecordStream`), so two exports of the same data are
byte-identical.

Checkpoints and atomicity
-------------------------
Rows are written to ``<out>.part``.  After every completed slice the file
is flushed to disk and ``<out>.checkpoint.json`` records the slices done,
the rows written and the byte length of the part file at that moment.  An
interrupted export (Ctrl-C, a crash, ``kill -9``, a network failure that
outlasted the retries) run again with the same window, format and filters
truncates the part file back to that length and continues with the next
slice: no completed slice is fetched again and no row is written twice.
When the last slice is done the part file is renamed to ``<out>`` in one
step (``os.replace``), so ``<out>`` is either absent or complete.  A
checkpoint that belongs to another export (different window, format or
filters) is ignored and overwritten, with a warning on the
``laaffic_async`` logger (``laaffic-async records export`` refuses it
instead, unless ``--force``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Callable
from contextlib import aclosing
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

import attrs

from .._core.converter import structure, to_wire
from ..errors import RequestValidationError
from ..models import CallRecord
from .records import RecordProgress, RecordStream

__all__ = ["COLUMNS", "FORMATS", "Checkpoint", "ExportResult", "RecordSource", "export_records"]


class RecordSource(Protocol):
    """What an export reads from: an :class:`~laaffic_async.AsyncClient`, or anything with
    its :meth:`records` (a test double, a wrapper that adds filters)."""

    def records(
        self,
        start: datetime,
        end: datetime,
        *,
        sip_group_name: str | None = ...,
        phone_name: str | None = ...,
        page_size: int = ...,
        concurrency: int = ...,
    ) -> RecordStream: ...


#: Output formats: comma-separated values with a header, or one JSON object per line.
FORMATS = ("csv", "jsonl")
#: The columns, in the recordSipQuery page's order and spelling (every CallRecord field).
COLUMNS = (
    "voiceId",
    "sipGroupName",
    "phoneName",
    "callee",
    "displayNum",
    "code",
    "submitTime",
    "callTime",
    "ringingTime",
    "answerTime",
    "hangupTime",
    "callDuration",
    "chargedDuration",
    "terminationCode",
    "terminationReason",
    "cost",
    "billPeriod",
    "rate",
    "recordingFileId",
    "currency",
)
_VERSION = 1

log = logging.getLogger("laaffic_async")


@attrs.frozen
class Checkpoint:
    """What ``<out>.checkpoint.json`` holds: which export, and how far it got."""

    since: datetime
    until: datetime
    file_format: str
    slices_done: int
    rows: int
    offset: int
    next_start: datetime | None = None
    sip_group_name: str | None = None
    phone_name: str | None = None
    version: int = _VERSION

    def same_export(self, other: Checkpoint) -> bool:
        """True when ``other`` describes the same export (progress aside)."""
        return (
            self.version,
            self.since,
            self.until,
            self.file_format,
            self.sip_group_name,
            self.phone_name,
        ) == (
            other.version,
            other.since,
            other.until,
            other.file_format,
            other.sip_group_name,
            other.phone_name,
        )


@attrs.frozen
class ExportResult:
    """A finished export: the file, its row count, and how much a checkpoint saved."""

    path: Path
    rows: int
    slices: int
    resumed_slices: int = 0


def part_path(out: Path) -> Path:
    """Where rows are written until the export completes."""
    return out.with_name(out.name + ".part")


def checkpoint_path(out: Path) -> Path:
    """Where the progress of an unfinished export is kept."""
    return out.with_name(out.name + ".checkpoint.json")


def load_checkpoint(out: Path) -> Checkpoint | None:
    """The checkpoint of an unfinished export to ``out``; None if absent or unreadable."""
    try:
        return structure(json.loads(checkpoint_path(out).read_bytes()), Checkpoint)
    except (OSError, ValueError):
        return None


def _save_checkpoint(out: Path, checkpoint: Checkpoint) -> None:
    target = checkpoint_path(out)
    scratch = target.with_name(target.name + ".tmp")
    with scratch.open("wb") as handle:
        handle.write(json.dumps(to_wire(checkpoint), indent=1).encode())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, target)


def encode_rows(records: list[CallRecord], file_format: str) -> bytes:
    """``records`` as CSV rows or JSON lines (UTF-8), in :data:`COLUMNS` order."""
    wires = [to_wire(record) for record in records]
    if file_format == "jsonl":
        return "".join(
            json.dumps({c: w.get(c) for c in COLUMNS}, ensure_ascii=False, separators=(",", ":"))
            + "\n"
            for w in wires
        ).encode()
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[w.get(c, "") for c in COLUMNS] for w in wires])
    return buffer.getvalue().encode()


def _header(file_format: str) -> bytes:
    if file_format != "csv":
        return b""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(COLUMNS)
    return buffer.getvalue().encode()


def _sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


async def export_records(
    client: RecordSource,
    since: datetime,
    until: datetime,
    out: str | os.PathLike[str],
    *,
    file_format: str = "csv",
    sip_group_name: str | None = None,
    phone_name: str | None = None,
    page_size: int = 100,
    concurrency: int = 8,
    on_progress: Callable[[RecordProgress], None] | None = None,
) -> ExportResult:
    """Export every call record of ``[since, until]`` to ``out`` (see the module doc).

    Resumes from ``<out>.checkpoint.json`` when it describes the same
    export.  ``on_progress`` is called with the stream's
    :class:`~laaffic_async.RecordProgress` after every batch.  Raises what
    :meth:`AsyncClient.records <laaffic_async.AsyncClient.records>` raises;
    the checkpoint and part file are then left for the next run.
    """
    if file_format not in FORMATS:
        raise RequestValidationError("format", f"must be one of {', '.join(FORMATS)}", file_format)
    out = Path(out)
    wanted = Checkpoint(since, until, file_format, 0, 0, 0, since, sip_group_name, phone_name)
    previous = load_checkpoint(out)
    part = part_path(out)
    resume = (
        previous is not None
        and previous.same_export(wanted)
        and part.exists()
        and part.stat().st_size >= previous.offset
    )
    state = previous if resume and previous is not None else wanted
    if previous is not None and not previous.same_export(wanted):
        log.warning("%s belongs to another export: starting over", checkpoint_path(out))
    if state.next_start is None:
        # Every slice was done; only the rename was interrupted.
        with part.open("r+b") as handle:
            handle.truncate(state.offset)
            _sync(handle)
        return _finish(out, part, state, resumed=state.slices_done)
    stream = client.records(
        state.next_start,
        until,
        sip_group_name=sip_group_name,
        phone_name=phone_name,
        page_size=page_size,
        concurrency=concurrency,
    )
    resumed = state.slices_done
    with part.open("r+b" if resume else "wb") as handle:
        if resume:
            # Rows of a slice that did not complete are cut off, then fetched again.
            handle.truncate(state.offset)
            handle.seek(state.offset)
        else:
            handle.write(_header(file_format))
        rows = state.rows
        async with aclosing(stream.pages()) as batches:
            async for batch in batches:
                if batch.records:
                    handle.write(encode_rows(batch.records, file_format))
                    rows += len(batch.records)
                if batch.last:
                    _sync(handle)
                    following = batch.slice.index + 1
                    state = attrs.evolve(
                        state,
                        slices_done=state.slices_done + 1,
                        rows=rows,
                        offset=handle.tell(),
                        next_start=(
                            stream.slices[following].start
                            if following < len(stream.slices)
                            else None
                        ),
                    )
                    _save_checkpoint(out, state)
                if on_progress is not None:
                    on_progress(stream.progress)
        _sync(handle)
    return _finish(out, part, state, resumed=resumed)


def _finish(out: Path, part: Path, state: Checkpoint, *, resumed: int) -> ExportResult:
    os.replace(part, out)
    checkpoint_path(out).unlink(missing_ok=True)
    return ExportResult(out, state.rows, state.slices_done, resumed)
