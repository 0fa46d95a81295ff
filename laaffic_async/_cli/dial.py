"""``laaffic-async dial``: place every call of a CSV file, one JSON line per outcome.

A thin shell over :func:`~laaffic_async._cli.dialfile.read_dial_file` (rows in)
and :meth:`AsyncClient.send_many` (calls out).  The file is read lazily, so
its size does not matter; bad rows go to stderr with their line number and
are never sent.  Exit codes: :data:`~laaffic_async._cli.common.EXIT_CODES`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import anyio
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._dialing.progress import BatchProgress
from .._dialing.reconcile import DEFAULT_SETTLE
from ..errors import CoordinationError, RequestValidationError
from ..models import Call
from .common import EXIT_CODES, client_from_options, credential_options, fail, usage_error
from .dialfile import BadRow, count_rows, outcome_record, read_dial_file
from .dialjournal import dial_journaled

__all__ = ["dial"]


def _count_rows(source: BinaryIO) -> int | None:
    """Data rows of a seekable file (the bar's total), then rewind; None for a pipe."""
    try:
        if not source.seekable():
            return None
        start = source.tell()
    except OSError:
        return None
    try:
        return count_rows(source)
    except (OSError, ValueError):  # ValueError: a bad header, reported when dialing
        return None
    finally:
        source.seek(start)


@click.command(epilog=EXIT_CODES)
@click.argument("numbers_csv", type=click.File("rb"))
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
@click.option(
    "--progress/--no-progress",
    default=True,
    help="Live progress bar on stderr when it is a terminal (the summary line is always printed).",
)
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
@click.option(
    "--redis",
    "redis_url",
    default=None,
    metavar="URL",
    help="Share --concurrency, --cps and one call per account with every dialer on this "
    "Redis (redis://host:6379/0).",
)
@click.option(
    "--namespace", default="laaffic", show_default=True, help="The fleet's name in Redis."
)
@credential_options
def dial(
    numbers_csv: BinaryIO,
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
    redis_url: str | None,
    namespace: str,
    **options: Any,
) -> None:
    """Call every number in NUMBERS_CSV ('-' for stdin), writing one JSON line per call.

    Columns: callee (or number/phone), and optionally account, calledInfo,
    displayNum, appId, named in a header row; without one, callee, account,
    calledInfo, displayNum by position.  Each line written has the row's
    line number and "outcome": placed (with voiceId), failed (nothing was
    dialed) or unknown (the call may have been placed: check the call
    records before dialing it again).  Bad rows (a field breaking the
    sendSip rules, a line that is not UTF-8) are reported on stderr with
    their line number and skipped.

    With --journal FILE --out FILE the run is crash-safe: each row's ref is
    its ref column, else its line number; rerun the same command after a
    crash and nobody is dialed twice; unknown calls are reconciled with the
    call records; --out is rewritten in file order when the run finishes.
    """
    console = Console(stderr=True)
    if journal_path is not None and redis_url is not None:
        fail("--redis with --journal is not supported yet: run one or the other", 2)
    # A bar drawn to a pipe or file is one last frame cut to 80 columns: terminals only.
    progress = progress and console.is_terminal
    if journal_path is not None:
        dial_journaled(numbers_csv, out, journal_path, settle, not no_redial, locals(), console)
        return
    if no_redial or settle != DEFAULT_SETTLE:
        fail("--settle and --no-redial need --journal (reconciliation is part of it)", 2)
    rows = read_dial_file(numbers_csv, account=account, display_num=display_num)
    counts = {"bad": 0, "calls": 0}
    lines: dict[int, int] = {}  # batch index -> file line, only while the call is pending
    stats = BatchProgress()
    total = _count_rows(numbers_csv) if progress else None
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
        client = client_from_options(
            options,
            max_connections=max(100, concurrency),
            **_fleet(redis_url, namespace, concurrency, cps),
        )
        async with client:
            if client.coordinator is not None:
                await client.coordinator.ping()  # unreachable: stop before reading a row
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
            usage_error(exc)
        except CoordinationError as exc:
            fail(f"the fleet's Redis is unreachable, nothing was sent: {exc}", code=3)
        except KeyboardInterrupt:
            interrupted = True
        # An interrupted run stops short of the file's rows: settle the bar on what ran.
        bar.update(task, total=stats.done + counts["bad"], completed=stats.done + counts["bad"])
    # Plain text, never cut or wrapped to the console's width (a pipe gets 80 columns).
    click.echo(_summary(stats, counts["bad"], final=True), err=True)
    if interrupted:
        raise SystemExit(130)
    if counts["bad"]:
        raise SystemExit(2)
    if stats.failed or stats.unknown:
        raise SystemExit(1)


def _fleet(
    redis_url: str | None, namespace: str, concurrency: int, cps: float | None
) -> dict[str, Any]:
    """With --redis, the client options that make --concurrency and --cps fleet budgets."""
    if redis_url is None:
        return {}
    try:
        from ..fleet import RedisCoordinator

        coordinator = RedisCoordinator(redis_url, namespace=namespace)
    except (ImportError, RequestValidationError) as exc:
        fail(str(exc), code=2)
    return {"coordinator": coordinator, "concurrency": concurrency, "calls_per_second": cps}


def _summary(stats: BatchProgress, bad: int, *, final: bool = False) -> str:
    text = (
        f"placed {stats.placed}, failed {stats.failed}, unknown {stats.unknown}, "
        f"bad rows {bad}, {stats.rate:.1f} calls/s"
    )
    if final and stats.unknown:
        text += " - unknown calls may have been placed: check the records before redialing them"
    return text
