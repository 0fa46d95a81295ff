"""``laaffic-async dial``: place every call of a CSV file, one JSON line per outcome.

A thin shell over :func:`~laaffic_async._cli.dialfile.read_dial_file` (rows in)
and :meth:`AsyncClient.send_many` (calls out).  The file is read lazily, so
its size does not matter; bad rows go to stderr with their line number and
are never sent.  Exit codes: 0 every call placed; 1 a call failed, its
outcome is unknown, or a row was bad; 2 bad usage (options, header,
credentials); 130 interrupted (the outcomes known so far are written).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._dialing.progress import BatchProgress
from .._dialing.reconcile import DEFAULT_SETTLE
from ..errors import RequestValidationError
from ..models import Call
from .common import client_from_options, credential_options, fail
from .dialfile import BadRow, outcome_record, read_dial_file
from .dialjournal import dial_journaled

__all__ = ["dial"]


def _count_rows(source: IO[str]) -> int | None:
    """Lines in a seekable file (for the bar's total), then rewind; None for a pipe."""
    try:
        if not source.seekable():
            return None
        start = source.tell()
        total = sum(1 for _ in source)
        source.seek(start)
    except OSError:
        return None
    return total


@click.command()
@click.argument("numbers_csv", type=click.File("r", encoding="utf-8-sig"))
@click.option("--account", default=None, help="Phone account for rows without their own.")
@click.option("--display-num", default=None, help="Number shown to callees (rows may override).")
@click.option(
    "--concurrency", default=50, type=click.IntRange(1, 1000), help="Calls in flight at most."
)
@click.option(
    "--cps", default=None, type=click.FloatRange(min=0, min_open=True), help="Calls per second."
)
@click.option(
    "--out",
    type=click.File("w", encoding="utf-8", lazy=False),
    default="-",
    help="File for the JSON lines (default: stdout).",
)
@click.option("--ordered", is_flag=True, help="Write outcomes in file order, not as they finish.")
@click.option("--retry-busy/--no-retry-busy", default=True, help="Retry -68 (account busy).")
@click.option(
    "--busy-timeout",
    default=300.0,
    type=click.FloatRange(min=0),
    help="Seconds a call may wait for its busy account.",
)
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Crash-safe: a sqlite journal; rerun the same command after a crash to continue.",
)
@click.option(
    "--settle",
    default=DEFAULT_SETTLE,
    type=click.FloatRange(min=0),
    help="Seconds a call record may take to appear (reconciling unknown calls; with --journal).",
)
@click.option(
    "--no-redial", is_flag=True, help="With --journal: report calls found not placed, not redial."
)
@credential_options
def dial(
    numbers_csv: IO[str],
    account: str | None,
    display_num: str | None,
    concurrency: int,
    cps: float | None,
    out: IO[str],
    ordered: bool,
    retry_busy: bool,
    busy_timeout: float,
    progress: bool,
    journal_path: Path | None,
    settle: float,
    no_redial: bool,
    **options: Any,
) -> None:
    """Call every number in NUMBERS_CSV ('-' for stdin), writing one JSON line per call.

    Columns: callee (or number/phone), and optionally account, calledInfo,
    displayNum, appId, named in a header row; without one, callee, account,
    calledInfo, displayNum by position.  Each line written has the row's
    line number and "outcome": placed (with voiceId), failed (nothing was
    dialed) or unknown (the call may have been placed: check the call
    records before dialing it again).

    With --journal FILE --out FILE the run is crash-safe: each row's ref is
    its ref column, else its line number; rerun the same command after a
    crash and nobody is dialed twice; unknown calls are reconciled with the
    call records; --out is rewritten in file order when the run finishes.
    """
    console = Console(stderr=True)
    if journal_path is not None:
        dial_journaled(numbers_csv, out, journal_path, settle, not no_redial, locals(), console)
        return
    if no_redial or settle != DEFAULT_SETTLE:
        fail("--settle and --no-redial need --journal (reconciliation is part of it)", 2)
    rows = read_dial_file(numbers_csv, account=account, display_num=display_num)
    counts = {"bad": 0, "calls": 0}
    lines: dict[int, int] = {}  # batch index -> file line, only while the call is pending
    stats = BatchProgress()
    total = _count_rows(numbers_csv)
    bar = Progress(
        TextColumn("dialing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[summary]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
    task = bar.add_task("dial", total=total, summary="")

    def calls() -> Iterator[Call]:
        for row in rows:
            if isinstance(row, BadRow):
                counts["bad"] += 1
                console.print(
                    f"line {row.line}: {row.message} (skipped)", highlight=False, soft_wrap=True
                )
                bar.advance(task)
                continue
            lines[counts["calls"]] = row.line
            counts["calls"] += 1
            yield row.call

    async def run() -> None:
        client = client_from_options(options, max_connections=max(100, concurrency))
        async with client:
            outcomes = client.send_many(
                calls(),
                concurrency=concurrency,
                calls_per_second=cps,
                retry_busy=retry_busy,
                busy_timeout=busy_timeout,
                ordered=ordered,
                progress=stats,
            )
            async for outcome in outcomes:
                line = lines.pop(outcome.index) if outcome.index is not None else None
                out.write(json.dumps(outcome_record(outcome, line)) + "\n")
                bar.update(task, advance=1, summary=_summary(stats, counts["bad"]))
        out.flush()

    interrupted = False
    with bar:
        try:
            anyio.run(run)
        except RequestValidationError as exc:  # a bad header: no row of the file can be trusted
            fail(str(exc), code=2)
        except KeyboardInterrupt:
            interrupted = True
        # The line count included the header and blank lines: settle the bar on what ran.
        bar.update(task, total=stats.done + counts["bad"], completed=stats.done + counts["bad"])
    console.print(_summary(stats, counts["bad"], final=True), highlight=False, soft_wrap=True)
    if interrupted:
        raise SystemExit(130)
    if stats.failed or stats.unknown or counts["bad"]:
        raise SystemExit(1)


def _summary(stats: BatchProgress, bad: int, *, final: bool = False) -> str:
    text = (
        f"placed {stats.placed}, failed {stats.failed}, unknown {stats.unknown}, "
        f"bad rows {bad}, {stats.rate:.1f} calls/s"
    )
    if final and stats.unknown:
        text += " - unknown calls may have been placed: check the records before redialing them"
    return text
