"""The ``laaffic-async`` command line (the ``cli`` extra: click and rich).

Commands: ``call`` (one call), ``dial`` (a CSV batch), ``records export``,
``sandbox`` (serve the emulator) and ``demo`` (everything, on the embedded
sandbox).  Credentials come from options or ``LAAFFIC_API_KEY``,
``LAAFFIC_API_SECRET``, ``LAAFFIC_APP_ID``, ``LAAFFIC_BASE_URL``.

Exit codes: :data:`~laaffic_async._cli.common.EXIT_CODES`, the epilog of
every ``--help``.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import click

from .. import __version__
from ..errors import LaafficError, OutcomeUnknownError, RequestValidationError
from .common import EXIT_CODES, client_from_options, credential_options, fail, usage_error
from .dial import dial
from .records import records


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    epilog=EXIT_CODES,
)
@click.version_option(__version__, prog_name="laaffic-async")
def main() -> None:
    """Laaffic voice API from the shell: place calls, dial batches, export records.

    Try `laaffic-async demo`: it runs everything against an embedded sandbox,
    with no credentials and no network.
    """


@main.command(epilog=EXIT_CODES)
@click.argument("callee")
@click.option("--account", required=True, help="Phone (SIP) account that places the call.")
@click.option("--display-num", default=None, help="Number shown to the callee (7-15 digits).")
@click.option("--called-info", default=None, help="Free text stored with the call (0-1000).")
@credential_options
def call(
    callee: str,
    account: str,
    display_num: str | None,
    called_info: str | None,
    **options: Any,
) -> None:
    """Place one call to CALLEE and print its voice id as JSON."""

    async def run() -> dict[str, Any]:
        async with client_from_options(options) as client:
            placed = await client.send_sip(
                callee, account=account, display_num=display_num, called_info=called_info
            )
        return {"voiceId": placed.voice_id, "callee": callee, "account": account}

    try:
        result = anyio.run(run)
    except RequestValidationError as exc:
        usage_error(exc)
    except OutcomeUnknownError as exc:
        fail(f"{exc} - the call may have been placed; check the call records before retrying")
    except LaafficError as exc:
        fail(str(exc))
    click.echo(json.dumps(result))


@main.command(epilog=EXIT_CODES)
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", default=8080, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option(
    "--call-seconds",
    default=0.0,
    type=click.FloatRange(min=0),
    help="How long a call keeps its account busy (-68).",
)
@click.option(
    "--latency", default=0.0, type=click.FloatRange(min=0), help="Seconds every request takes."
)
@click.option(
    "--error-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of requests answered with HTTP 500 (0 to 1).",
)
@click.option(
    "--drop-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of connections dropped after the work is done (0 to 1).",
)
@click.option("--seed", default=None, type=int, help="Seed for the faults' random generator.")
def sandbox(
    host: str,
    port: int,
    call_seconds: float,
    latency: float,
    error_rate: float,
    drop_rate: float,
    seed: int | None,
) -> None:
    """Serve the API emulator on HOST:PORT (needs the `sandbox` extra: uvicorn).

    It accepts the vendor's sample credentials (Api-Key bDqJFiq9, secret
    7bz1lzh9, appId 4luaKsL2), so the vendor's own samples work against
    http://HOST:PORT/v3 with only the URL changed.
    """
    from ..testing import Faults, Sandbox, SandboxState, serve

    emulator = Sandbox(
        SandboxState(call_seconds=call_seconds),
        Faults(latency=latency, error_rate=error_rate, drop_rate=drop_rate, seed=seed),
    )
    click.echo(f"sandbox on http://{host}:{port}/v3 (Ctrl+C to stop)", err=True)
    try:
        serve(emulator, host=host, port=port)
    except ImportError as exc:
        fail(str(exc), code=2)


main.add_command(dial)
main.add_command(records)


@main.command(epilog=EXIT_CODES)
@click.option("--calls", default=3000, type=click.IntRange(1), help="Calls to dial.")
@click.option(
    "--accounts", default=300, type=click.IntRange(1), help="Phone accounts to spread them over."
)
@click.option(
    "--concurrency", default=100, type=click.IntRange(1), help="Requests in flight at most."
)
@click.option(
    "--history",
    default=20_000,
    type=click.IntRange(0),
    help="Older records the sandbox starts with.",
)
@click.option(
    "--days",
    default=45,
    type=click.IntRange(1, 59),
    help="Length of the exported window (over 31 shows the slicing).",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False, writable=True),
    help="CSV file the export writes [default: demo-records.csv in a new temporary directory].",
)
def demo(
    calls: int, accounts: int, concurrency: int, history: int, days: int, out: str | None
) -> None:
    """Dial, receive pushes and export records against the embedded sandbox.

    No credentials, no network: the sandbox runs in-process, its pushes go to a
    receiver on 127.0.0.1, and the records land in a CSV file (in a new
    temporary directory unless --out names one); its path is printed.
    """
    import tempfile
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .demo import DemoOptions, run_demo, summary_rows

    console = Console(stderr=True)
    if out is None:
        # Never a file in the current directory the user did not ask for.
        out = str(Path(tempfile.mkdtemp(prefix="laaffic-async-demo-")) / "demo-records.csv")
    elif Path(out).exists():
        click.echo(f"{out} exists: the export replaces it", err=True)
    options = DemoOptions(calls, accounts, concurrency, history, days, Path(out))
    labels = {
        "dial": "dialing (send_many)",
        "pushes": "pushes received",
        "export": "exporting records",
    }
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(labels[stage], total=total or None)
            bars.update(tasks[stage], completed=done, total=total or None)

        summary = anyio.run(run_demo, options, report)
    table = Table(title="laaffic-async demo", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in summary_rows(summary):
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)
    click.echo(f"records written to {summary.out}", err=True)
