"""``laaffic-async records export``: every call record of a period to CSV or JSON Lines.

The command is a thin shell over :func:`laaffic_async._paging.export.export_records`
(resumable, atomic); this module parses dates, shows progress and maps
failures to exit codes (:data:`~laaffic_async._cli.common.EXIT_CODES`).

Dates: ``--since``/``--until`` take ISO-8601 times (``2026-10-01T08:00:00+08:00``,
``...Z``) or plain dates (``2026-10-01``).  A plain date, or a time without
an offset, is local time, made explicit with this machine's UTC offset on
that date and printed before the export starts.  A window older than the
API's two months is refused before anything is printed or sent, naming the
option and the value as typed.  ``--since DATE`` starts at
that day's 00:00:00; ``--until DATE`` includes the whole day, up to
23:59:59 (records carry whole seconds), so ``--since D --until D`` is
exactly day D and consecutive days never share a record.
"""

from __future__ import annotations

import json
import re
import time as _time
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .._core.retry import RetryPolicy
from .._core.windows import earliest_start
from .._paging.export import (
    FORMATS,
    Checkpoint,
    ExportResult,
    checkpoint_path,
    export_records,
    load_checkpoint,
)
from .._paging.records import RecordProgress
from ..errors import LaafficError, RequestValidationError
from .common import EXIT_CODES, client_from_options, credential_options, fail, usage_error

__all__ = ["export", "parse_when", "records"]

_PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A long export should ride out a blip: more, slower attempts than the client's default.
_EXPORT_RETRY = RetryPolicy(attempts=8, base_delay=0.5, max_delay=15.0)


def parse_when(text: str, *, end_of_day: bool = False) -> datetime:
    """An aware datetime from ISO-8601 or a plain date (see the module doc).

    Raises ``ValueError`` with a message fit for the user.
    """
    text = text.strip()
    if _PLAIN_DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid date: {exc}") from None
        moment = datetime.combine(day, time(23, 59, 59) if end_of_day else time())
        return moment.astimezone()  # local time, with the offset it has on that date
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a date (2026-10-01) nor an ISO-8601 time "
            "(2026-10-01T08:00:00+08:00)"
        ) from None
    return moment if moment.utcoffset() is not None else moment.astimezone()


if TYPE_CHECKING:  # click >= 8.2 makes ParamType generic; older releases are not
    _ParamType = click.ParamType[datetime]
else:
    _ParamType = click.ParamType


class _When(_ParamType):
    name = "DATE|TIME"

    def __init__(self, *, end_of_day: bool) -> None:
        self.end_of_day = end_of_day

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        if ctx is not None and param is not None:
            # Errors found later (the window's age, its order) quote what the user typed.
            ctx.meta[f"typed {param.name}"] = str(value)
        try:
            return parse_when(str(value), end_of_day=self.end_of_day)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _RecordsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed or 0:,.0f} records/s", style="progress.data.speed")


def _guess_format(out: Path) -> str:
    return "jsonl" if out.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


def _check_window(since: datetime, until: datetime, typed_since: str, typed_until: str) -> None:
    """Exit 2 naming the option, before anything is printed or sent, if the API would refuse."""
    if until < since:
        fail(
            f"--until {typed_until!r} ({until.isoformat()}) is before "
            f"--since {typed_since!r} ({since.isoformat()})",
            code=2,
        )
    earliest = earliest_start(_time.time()).astimezone(since.tzinfo)
    if since < earliest:
        fail(
            f"--since {typed_since!r} ({since.isoformat()}) is older than the API keeps call "
            f"records (two months, taken as 60 days): the earliest allowed time is "
            f"{earliest.replace(microsecond=0).isoformat()}",
            code=2,
        )


def _check_out(out: Path, wanted: Checkpoint, *, force: bool) -> list[str]:
    """Refuse (exit 2) to replace a file or drop another export's checkpoint unless ``force``.

    Returns what to tell the user when ``force`` let it through.
    """
    notes: list[str] = []
    checkpoint = checkpoint_path(out)
    if checkpoint.exists():
        previous = load_checkpoint(out)
        if previous is None or not previous.same_export(wanted):
            what = (
                "is unreadable"
                if previous is None
                else f"belongs to another export ({previous.since.isoformat()} .. "
                f"{previous.until.isoformat()}, {previous.file_format}, "
                f"group {previous.sip_group_name!r}, phone {previous.phone_name!r})"
            )
            if not force:
                fail(
                    f"{checkpoint} {what}: run that export again to finish it, or pass "
                    "--force to discard its progress and start this one",
                    code=2,
                )
            notes.append(f"discarding {checkpoint}: it {what}")
        else:
            notes.append(f"found {checkpoint}: resuming this export")
    if out.exists():
        if not force:
            fail(f"--out {str(out)!r} exists: pass --force to replace it", code=2)
        notes.append(f"{out} exists: it will be replaced when the export completes")
    return notes


@click.group()
def records() -> None:
    """Call records (voice/recordSipQuery): export a period of them to a file."""


@records.command(epilog=EXIT_CODES)
@click.option(
    "--since",
    required=True,
    type=_When(end_of_day=False),
    help="Start: ISO-8601 time or date (a date is local midnight).",
)
@click.option(
    "--until",
    required=True,
    type=_When(end_of_day=True),
    help="End, inclusive: ISO-8601 time or date (a date includes the whole day).",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format [default: from --out's suffix, else csv].",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (atomically; <out>.part and <out>.checkpoint.json meanwhile).",
)
@click.option("--group", "sip_group_name", default=None, help="Only this phone group (exact).")
@click.option("--phone", "phone_name", default=None, help="Only this phone (exact).")
@click.option(
    "--concurrency", default=8, type=click.IntRange(1, 100), help="Requests in flight at most."
)
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing --out file, or discard a checkpoint left by a different export.",
)
@credential_options
def export(
    since: datetime,
    until: datetime,
    file_format: str | None,
    out: Path,
    sip_group_name: str | None,
    phone_name: str | None,
    concurrency: int,
    progress: bool,
    force: bool,
    **options: Any,
) -> None:
    """Export every call record from --since to --until into --out.

    Interrupted (Ctrl-C, a crash, the network)?  Run the same command
    again: it resumes after the last completed 31-day slice, without
    fetching it again or writing a row twice.  An existing --out file, or
    a checkpoint left by a different export, is refused unless --force.
    """
    file_format = file_format or _guess_format(out)
    typed = click.get_current_context().meta
    _check_window(since, until, typed.get("typed since", ""), typed.get("typed until", ""))
    wanted = Checkpoint(since, until, file_format, 0, 0, 0, since, sip_group_name, phone_name)
    notes = _check_out(out, wanted, force=force)
    client = client_from_options(options, retry=_EXPORT_RETRY)
    console = Console(stderr=True)
    for note in notes:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(
        f"exporting call records {since.isoformat()} .. {until.isoformat()} "
        f"to {out} ({file_format})",
        highlight=False,
        soft_wrap=True,
    )
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RecordsPerSecond(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
    )
    task = bar.add_task("records", total=None)

    def show(state: RecordProgress) -> None:
        bar.update(
            task,
            completed=state.records,
            total=max(state.total, state.records) if state.total_known else None,
            description=f"slice {min(state.slices_done + 1, state.slices)}/{state.slices}",
        )

    async def run() -> ExportResult:
        async with client:
            return await export_records(
                client,
                since,
                until,
                out,
                file_format=file_format,
                sip_group_name=sip_group_name,
                phone_name=phone_name,
                concurrency=concurrency,
                on_progress=show,
            )

    with bar:
        try:
            result = anyio.run(run)
        except RequestValidationError as exc:
            usage_error(exc)
        except KeyboardInterrupt:
            fail("interrupted: run the same command again to resume", code=130)
        except LaafficError as exc:
            fail(f"{exc}\nrun the same command again to resume after the last completed slice")
    elapsed = timedelta(seconds=bar.tasks[0].elapsed or 0)
    console.print(
        f"wrote {result.rows:,} records to {result.path} in {elapsed}",
        highlight=False,
        soft_wrap=True,
    )
    click.echo(
        json.dumps(
            {
                "out": str(result.path),
                "records": result.rows,
                "slices": result.slices,
                "resumedSlices": result.resumed_slices,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "format": file_format,
            }
        )
    )
