"""A nightly export job: yesterday's call records (or the last N days) to a CSV file.

Usage::

    python examples/nightly_export.py [--days N] [--out calls.csv]

Run it from cron or a scheduler. If the job is killed, run it again with
the same arguments: it resumes from the last completed 31-day slice
(``calls.csv.checkpoint.json``) and the final file appears only when
complete (written as ``calls.csv.part``, then renamed).

Without ``LAAFFIC_API_KEY`` it exports from an in-process sandbox seeded
with sample records; with it (and ``LAAFFIC_API_SECRET``) from the platform.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta

import anyio

from laaffic_async import AsyncClient, export_records
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Sandbox,
    SandboxTransport,
    seed_records,
)


def make_client(since: datetime, until: datetime) -> AsyncClient:
    if os.environ.get("LAAFFIC_API_KEY"):
        return AsyncClient()
    sandbox = Sandbox()
    seed_records(sandbox, 5_000, since, until, seed=1)
    return AsyncClient(
        SAMPLE_API_KEY,
        SAMPLE_API_SECRET,
        app_id=SAMPLE_APP_ID,
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
    )


async def main(days: int, out: str) -> None:
    # Whole days in the platform's zone would be as valid; UTC keeps the example short.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = today - timedelta(days=days), today - timedelta(seconds=1)
    async with make_client(since, until) as client:
        result = await export_records(client, since, until, out, concurrency=8)
    print(f"{result.rows} records of {since:%Y-%m-%d}..{until:%Y-%m-%d} in {result.path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1, help="days before today to export")
    parser.add_argument("--out", default="calls.csv", help="CSV file to write")
    args = parser.parse_args()
    anyio.run(main, args.days, args.out)
