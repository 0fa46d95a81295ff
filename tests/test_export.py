"""export_records: the file formats, checkpoints, and resuming an interrupted export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from laaffic_async import (
    AsyncClient,
    RecordProgress,
    RequestValidationError,
    RetryPolicy,
    TransportError,
)
from laaffic_async._core.converter import to_wire
from laaffic_async._paging.export import (
    COLUMNS,
    Checkpoint,
    checkpoint_path,
    export_records,
    load_checkpoint,
    part_path,
)
from laaffic_async.testing import Faults, Sandbox, SandboxTransport, seed_records

pytestmark = pytest.mark.anyio

DAY = timedelta(days=1)


def make_client(sandbox: Sandbox) -> AsyncClient:
    return AsyncClient(
        "bDqJFiq9",
        "7bz1lzh9",
        base_url="http://sandbox/v3",
        transport=SandboxTransport(sandbox),
        retry=RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.005),
    )


def three_slice_window() -> tuple[datetime, datetime]:
    """89 days: three 31-day slices (the end may lie in the future)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - 59 * DAY, now + 30 * DAY


def seeded(count: int = 3_000) -> tuple[Sandbox, datetime, datetime, list[str]]:
    sandbox = Sandbox()
    since, until = three_slice_window()
    ids = seed_records(sandbox, count, since, until, seed=count)
    return sandbox, since, until, ids


def expected_cell(value: object) -> str:
    return "" if value is None else str(value)


async def test_csv_has_the_pages_columns_and_the_servers_exact_values(tmp_path: Path) -> None:
    sandbox, since, until, ids = seeded()
    out = tmp_path / "calls.csv"
    async with make_client(sandbox) as client:
        result = await export_records(client, since, until, out, concurrency=4)
    assert (result.path, result.rows, result.slices, result.resumed_slices) == (out, 3_000, 3, 0)
    assert not part_path(out).exists()
    assert not checkpoint_path(out).exists()
    raw = out.read_bytes()
    assert raw.startswith(",".join(COLUMNS).encode() + b"\r\n")
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    assert sorted(row["voiceId"] for row in rows) == sorted(ids)
    for row in rows[:300]:
        wire = sandbox.state.records.get(row["voiceId"])
        assert wire is not None
        # Byte for byte what the server sent: offsets, decimals ("0.0040"), empty fields.
        assert row == {column: expected_cell(wire[column]) for column in COLUMNS}


async def test_jsonl_is_one_object_per_line_with_nulls(tmp_path: Path) -> None:
    sandbox, since, until, ids = seeded(500)
    out = tmp_path / "calls.jsonl"
    async with make_client(sandbox) as client:
        result = await export_records(client, since, until, out, file_format="jsonl")
    lines = out.read_text().splitlines()
    assert len(lines) == result.rows == 500
    objects = [json.loads(line) for line in lines]
    assert sorted(o["voiceId"] for o in objects) == sorted(ids)
    for obj in objects:
        assert list(obj) == list(COLUMNS)
        wire = sandbox.state.records.get(obj["voiceId"])
        assert wire is not None
        assert obj == {c: (None if wire[c] == "" else wire[c]) for c in COLUMNS}


async def test_an_interrupted_export_resumes_to_an_identical_file(tmp_path: Path) -> None:
    sandbox, since, until, _ = seeded(4_000)
    reference = tmp_path / "reference.csv"
    out = tmp_path / "calls.csv"
    async with make_client(sandbox) as client:
        await export_records(client, since, until, reference, concurrency=3)
        windows_before = len(sandbox.state.query_windows)

        # Cancel the export (as Ctrl-C or a killed task would) in the middle of slice 2.
        with anyio.CancelScope() as scope:

            def stop_midway(progress: RecordProgress) -> None:
                if progress.slices_done == 1 and progress.records > 1_500:
                    scope.cancel()

            # One request at a time: slice 2 is still being fetched when the cancel lands.
            await export_records(client, since, until, out, concurrency=1, on_progress=stop_midway)
        assert scope.cancelled_caught
        checkpoint = load_checkpoint(out)
        assert checkpoint is not None
        assert checkpoint.slices_done == 1
        assert part_path(out).stat().st_size > checkpoint.offset  # half a slice to cut off
        assert not out.exists()
        slice_one = sandbox.state.query_windows[windows_before]
        done = len(sandbox.state.query_windows)

        result = await export_records(client, since, until, out, concurrency=3)
    assert result.resumed_slices == 1
    assert out.read_bytes() == reference.read_bytes()
    # Slice 1 was not fetched again.
    assert slice_one not in sandbox.state.query_windows[done:]
    assert not checkpoint_path(out).exists()


async def test_a_failure_keeps_the_checkpoint_and_resuming_finishes(tmp_path: Path) -> None:
    sandbox, since, until, _ = seeded(4_000)
    reference = tmp_path / "reference.jsonl"
    out = tmp_path / "calls.jsonl"
    async with make_client(sandbox) as client:
        await export_records(client, since, until, reference, file_format="jsonl")

        def network_dies_after_two_slices(progress: RecordProgress) -> None:
            if progress.slices_done == 2:
                sandbox.faults = Faults(drop_before_rate=1.0)

        with pytest.raises(TransportError):
            await export_records(
                client,
                since,
                until,
                out,
                file_format="jsonl",
                concurrency=1,
                on_progress=network_dies_after_two_slices,
            )
        checkpoint = load_checkpoint(out)
        assert checkpoint is not None
        assert checkpoint.slices_done == 2
        sandbox.faults = Faults()
        result = await export_records(client, since, until, out, file_format="jsonl")
    assert result.resumed_slices == 2
    assert out.read_bytes() == reference.read_bytes()


async def test_a_checkpoint_of_another_export_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, since, until, _ = seeded(300)
    out = tmp_path / "calls.csv"
    stale = Checkpoint(since - DAY, until, "csv", 1, 5, 10, since + 40 * DAY)
    checkpoint_path(out).write_text(json.dumps({"sinse": "garbage"}))
    assert load_checkpoint(out) is None
    checkpoint_path(out).write_text(json.dumps(to_wire(stale)))
    part_path(out).write_bytes(b"x" * 100)
    assert load_checkpoint(out) == stale
    async with make_client(sandbox) as client:
        result = await export_records(client, since, until, out)
    assert (result.rows, result.resumed_slices) == (300, 0)
    assert out.read_bytes().startswith(b"voiceId,")
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [f"{checkpoint_path(out)} belongs to another export: starting over"]


async def test_only_the_rename_left_to_do_is_finished(tmp_path: Path) -> None:
    sandbox, since, until, _ = seeded(100)
    out = tmp_path / "calls.csv"
    done = Checkpoint(since, until, "csv", 3, 1, 8)
    checkpoint_path(out).write_text(json.dumps(to_wire(done)))
    part_path(out).write_bytes(b"header\r\nrow\r\n+junk written after the checkpoint")
    async with make_client(sandbox) as client:
        result = await export_records(client, since, until, out)
    assert out.read_bytes() == b"header\r\n"
    assert (result.rows, result.resumed_slices) == (1, 3)
    assert sum(sandbox.state.requests.values()) == 0


async def test_bad_format_and_window_are_refused_before_any_request(tmp_path: Path) -> None:
    sandbox, since, until, _ = seeded(10)
    async with make_client(sandbox) as client:
        with pytest.raises(RequestValidationError, match="format"):
            await export_records(client, since, until, tmp_path / "x", file_format="xml")
        with pytest.raises(RequestValidationError, match="earliest allowed"):
            await export_records(client, since - 5 * DAY, until, tmp_path / "x.csv")
    assert sum(sandbox.state.requests.values()) == 0
