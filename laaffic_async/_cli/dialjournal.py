"""``laaffic-async dial ... --journal FILE --out FILE``: a campaign that survives kill -9.

Each row's ref is its ``ref`` cell, else its line number.  The run goes
through ``send_many(journal=...)``, so rerunning the same command after a
crash dials nobody twice; when a run finishes, ``--out`` is rebuilt from the
journal in file order (one JSON line per row, written to ``<out>.part`` and
renamed) so it is complete whatever earlier runs wrote.  Exit codes (the
table of :data:`~laaffic_async._cli.common.EXIT_CODES`): 0 every row placed;
1 a row failed or stayed unknown (reconciliation could not decide: rerun to
try again); 2 bad usage, a bad row, or the journal is in use by another
process; 130 interrupted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import anyio
import attrs
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import JournalError, OutcomeUnknownError, RequestValidationError
from ..journal import DialJournal
from ..models import Call
from .common import client_from_options, fail, usage_error
from .dialfile import BadRow, DialRow, outcome_record, read_dial_file

__all__ = ["JournaledDial", "dial_journaled", "run_journaled"]

_CHUNK = 500


@attrs.define
class JournaledDial:
    """What the command was asked to do (the dial command's options, as given)."""

    source: BinaryIO
    out: Path
    journal: Path
    settle: float
    redial: bool
    concurrency: int
    cps: float | None
    retry_busy: bool
    busy_timeout: float
    defaults: dict[str, str | None]
    credentials: dict[str, Any]
    #: Why calls stayed unknown (the first few), filled when --out is written.
    reasons: list[str] = attrs.field(factory=list)


def _rows(job: JournaledDial) -> Iterator[DialRow | BadRow]:
    for row in read_dial_file(job.source, **job.defaults):
        if isinstance(row, DialRow) and row.call.ref is None:
            # A row's ref is its ref cell, else its line number: stable across reruns.
            row = DialRow(row.line, attrs.evolve(row.call, ref=str(row.line)))
        yield row


async def _dial(job: JournaledDial, journal: DialJournal, on_row: Callable[[str], None]) -> None:
    def calls() -> Iterator[Call]:
        for row in _rows(job):
            if isinstance(row, DialRow):
                yield row.call

    client = client_from_options(job.credentials, max_connections=max(100, job.concurrency))
    async with client:
        outcomes = client.send_many(
            calls(),
            journal=journal,
            redial_unplaced=job.redial,
            settle=job.settle,
            concurrency=job.concurrency,
            calls_per_second=job.cps,
            retry_busy=job.retry_busy,
            busy_timeout=job.busy_timeout,
        )
        async for outcome in outcomes:
            on_row("placed" if outcome.ok else "not placed")
            if outcome.replayed:
                on_row("replayed")


async def _write_out(job: JournaledDial, journal: DialJournal) -> dict[str, int]:
    """Rebuild --out from the journal, in file order; return the outcome counts."""
    counts = {"placed": 0, "failed": 0, "unknown": 0, "bad": 0}
    job.source.seek(0)
    part = job.out.with_name(job.out.name + ".part")
    with part.open("w", encoding="utf-8") as sink:
        rows = _rows(job)
        while chunk := [row for _, row in zip(range(_CHUNK), rows, strict=False)]:
            refs = [row.call.ref for row in chunk if isinstance(row, DialRow)]
            entries = await journal.lookup(ref for ref in refs if ref is not None)
            for row in chunk:
                if isinstance(row, BadRow):
                    line = {"line": row.line, "outcome": "failed", "message": row.message}
                    counts["bad"] += 1
                else:
                    entry = entries.get(row.call.ref or "")
                    if entry is None:  # not reached: the run gives every row an outcome
                        line = {"line": row.line, "ref": row.call.ref, "outcome": "unknown"}
                        counts["unknown"] += 1
                    else:
                        outcome = entry.as_outcome(row.call)
                        line = {"ref": row.call.ref, **outcome_record(outcome, row.line)}
                        kind = "unknown" if isinstance(outcome.error, OutcomeUnknownError) else None
                        counts[kind or ("placed" if outcome.ok else "failed")] += 1
                        if kind and len(job.reasons) < 3:
                            job.reasons.append(f"line {row.line}: {entry.error}")
                sink.write(json.dumps(line) + "\n")
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(part, job.out)
    return counts


def run_journaled(job: JournaledDial, on_row: Callable[[str], None]) -> int:
    """Run the campaign, write --out, return the exit code (see the module docstring)."""
    if not job.source.seekable():
        fail("--journal needs NUMBERS_CSV to be a file (--out is rebuilt from it in file order)", 2)
    try:
        journal = DialJournal(job.journal)
    except JournalError as exc:
        fail(str(exc), 2)

    async def main() -> dict[str, int]:
        async with journal:
            await _dial(job, journal, on_row)
            return await _write_out(job, journal)

    try:
        counts = anyio.run(main)
    finally:
        journal.close()
    if counts["unknown"]:
        fail(
            f"{counts['unknown']} call(s) stay unknown: reconciliation could not decide "
            f"({'; '.join(job.reasons)}); rerun the same command to try again",
            1,
        )
    if counts["bad"]:
        return 2  # bad input, as without --journal: the good rows were dialed
    return 1 if counts["failed"] else 0


def dial_journaled(
    source: BinaryIO,
    out: IO[str],
    journal_path: Path,
    settle: float,
    redial: bool,
    given: dict[str, Any],
    console: Console,
) -> None:
    """The dial command with --journal: run, print a summary, exit with run_journaled's code."""
    name = getattr(out, "name", "-")
    if not isinstance(name, str) or name in ("-", "<stdout>"):
        fail("--journal needs --out FILE (it is rewritten in file order when the run ends)", 2)
    out.close()
    job = JournaledDial(
        source=source,
        out=Path(name),
        journal=journal_path,
        settle=settle,
        redial=redial,
        concurrency=given["concurrency"],
        cps=given["cps"],
        retry_busy=given["retry_busy"],
        busy_timeout=given["busy_timeout"],
        defaults={"account": given["account"], "display_num": given["display_num"]},
        credentials=given["options"],
    )
    done = {"placed": 0, "not placed": 0, "replayed": 0}
    bar = Progress(
        TextColumn("dialing"),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not given["progress"],
    )
    task = bar.add_task("dial", total=None)

    def on_row(kind: str) -> None:
        done[kind] += 1
        if kind != "replayed":
            bar.advance(task)

    with bar:
        try:
            code = run_journaled(job, on_row)
        except RequestValidationError as exc:
            usage_error(exc)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
    console.print(
        f"placed {done['placed']}, not placed {done['not placed']} "
        f"({done['replayed']} from earlier runs); outcomes in {name}",
        highlight=False,
        soft_wrap=True,
    )
    raise SystemExit(code)
