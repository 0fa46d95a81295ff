"""`laaffic-async records export` over a real socket: output, bad input, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from laaffic_async._cli.records import parse_when, records
from laaffic_async._core.converter import to_wire
from laaffic_async._core.windows import slice_window
from laaffic_async._paging.export import Checkpoint, checkpoint_path, load_checkpoint, part_path
from laaffic_async.testing import Sandbox, SandboxState, seed_records, serve_in_thread

DAY = timedelta(days=1)
CREDENTIALS = ["--api-key", "bDqJFiq9", "--api-secret", "7bz1lzh9"]


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - 59 * DAY, now + 30 * DAY


def export_args(url: str, since: datetime, until: datetime, out: Path, *extra: str) -> list[str]:
    return [
        "export",
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--out",
        str(out),
        "--base-url",
        url,
        "--no-progress",
        *CREDENTIALS,
        *extra,
    ]


@pytest.fixture(params=[False, True], ids=["stable_ties", "unstable_ties"])
def served(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Sandbox, str, datetime, datetime, list[str]]]:
    # Unstable ties: the records of one second come in a fresh random order on every query,
    # and bursts of up to 40 calls a second make most page boundaries split a second.
    sandbox = Sandbox(SandboxState(unstable_ties=request.param))
    since, until = window()
    ids = seed_records(sandbox, 2_500, since, until, seed=12, burst=40 if request.param else 1)
    with serve_in_thread(sandbox) as url:
        yield sandbox, url, since, until, ids


def test_export_csv_and_jsonl(
    served: tuple[Sandbox, str, datetime, datetime, list[str]], tmp_path: Path
) -> None:
    _, url, since, until, ids = served
    runner = CliRunner()
    result = runner.invoke(records, export_args(url, since, until, tmp_path / "calls.csv"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["records"] == len(ids)
    assert (summary["slices"], summary["resumedSlices"], summary["format"]) == (3, 0, "csv")
    lines = (tmp_path / "calls.csv").read_text().splitlines()
    assert lines[0].startswith("voiceId,sipGroupName,phoneName,callee")
    assert len(lines) == len(ids) + 1
    # The format follows the suffix unless --format says otherwise.
    result = runner.invoke(records, export_args(url, since, until, tmp_path / "calls.jsonl"))
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert sorted(o["voiceId"] for o in objects) == sorted(ids)
    result = runner.invoke(
        records, export_args(url, since, until, tmp_path / "x.txt", "--format", "jsonl")
    )
    assert json.loads((tmp_path / "x.txt").read_text().splitlines()[0])["voiceId"]


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2026-13-01", "2026-11-22", "not a valid date: month must be in 1..12"),
        ("yesterday", "2026-11-22", "neither a date"),
        ("2026-11-22", "2026-11-01", "is before --since"),
        ("2020-01-01", "2020-01-02", "earliest allowed time"),
    ],
)
def test_bad_dates_exit_2_with_a_clear_message(
    since: str, until: str, message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        records,
        [
            "export",
            "--since",
            since,
            "--until",
            until,
            "--out",
            str(tmp_path / "x.csv"),
            "--base-url",
            "http://127.0.0.1:9/v3",
            *CREDENTIALS,
        ],
    )
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x.csv").exists()


def test_missing_credentials_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LAAFFIC_API_KEY", "LAAFFIC_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    today = date.today().isoformat()
    result = CliRunner().invoke(
        records, ["export", "--since", today, "--until", today, "--out", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 2
    assert "api-key" in result.output


def test_dates_are_made_explicit() -> None:
    since = parse_when("2026-10-01")
    until = parse_when("2026-11-22", end_of_day=True)
    assert since.utcoffset() is not None
    assert (since.year, since.month, since.day, since.hour, since.minute) == (2026, 10, 1, 0, 0)
    assert (until.day, until.hour, until.minute, until.second) == (22, 23, 59, 59)
    assert until.utcoffset() is not None
    assert parse_when("2026-10-01T08:00:00+08:00") == datetime(2026, 10, 1, tzinfo=UTC)
    assert parse_when("2026-10-01T00:00:00Z") == datetime(2026, 10, 1, tzinfo=UTC)
    naive = parse_when("2026-10-01T08:00:00")
    assert naive.utcoffset() == datetime(2026, 10, 1, 8).astimezone().utcoffset()
    with pytest.raises(ValueError, match="neither a date"):
        parse_when("01/10/2026")


@attrs.define
class Gate:
    """Holds every query for the last slice beyond its first page, until released."""

    held_from: datetime
    hit: threading.Event = attrs.field(factory=threading.Event)
    release: threading.Event = attrs.field(factory=threading.Event)

    def install(self, sandbox: Sandbox) -> None:
        routes = []
        for route in sandbox.routes:
            if route.endpoint == "voice/recordSipQuery":
                route = attrs.evolve(route, handler=self.wrap(route.handler))
            routes.append(route)
        sandbox.routes = routes

    def wrap(self, handler: Any) -> Any:
        def gated(state: Any, request: Any) -> Any:
            body = request.json_object()
            start = datetime.fromisoformat(body["params"]["strTime"])
            if start >= self.held_from and body["current"] > 1 and not self.release.is_set():
                self.hit.set()
                # Blocks the server thread: every request after this one waits too.
                self.release.wait(timeout=60)
            return handler(state, request)

        return gated


def test_kill_9_mid_export_then_resume_gives_the_identical_file(
    served: tuple[Sandbox, str, datetime, datetime, list[str]], tmp_path: Path
) -> None:
    sandbox, url, since, until, ids = served
    runner = CliRunner()
    reference = tmp_path / "reference.csv"
    assert runner.invoke(records, export_args(url, since, until, reference)).exit_code == 0

    slices = slice_window(since, until)
    gate = Gate(held_from=slices[-1].query_start)
    gate.install(sandbox)
    out = tmp_path / "calls.csv"
    command = [
        sys.executable,
        "-c",
        "from laaffic_async._cli.records import records; records()",
        *export_args(url, since, until, out, "--concurrency", "2"),
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (gate.hit.is_set() and checkpoint_path(out).exists()):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the export never reached the gate"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        gate.release.set()
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    checkpoint = load_checkpoint(out)
    assert checkpoint is not None
    assert checkpoint.slices_done >= 1
    assert not out.exists()
    assert part_path(out).exists()

    result = runner.invoke(records, export_args(url, since, until, out))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["resumedSlices"] == checkpoint.slices_done
    assert out.read_bytes() == reference.read_bytes()
    assert not part_path(out).exists()
    assert not checkpoint_path(out).exists()
    assert len(out.read_bytes().splitlines()) == len(ids) + 1


def test_a_window_too_old_names_the_option_and_the_value_as_typed(tmp_path: Path) -> None:
    typed = (date.today() - timedelta(days=75)).isoformat()
    result = CliRunner().invoke(
        records,
        [
            *("export", "--since", typed, "--until", date.today().isoformat()),
            *("--out", str(tmp_path / "x.csv"), "--base-url", "http://127.0.0.1:9/v3"),
            *CREDENTIALS,
        ],
    )
    assert result.exit_code == 2
    assert f"error: --since '{typed}' (" in result.stderr
    assert "older than the API keeps call records" in result.stderr
    # No wire field names, no Python reprs, nothing announced before the refusal.
    for word in ("strTime", "datetime.datetime", "exporting", "records"):
        assert word not in result.stderr.split("older than")[0], result.stderr
    assert "exporting" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_file_is_refused_without_force(
    served: tuple[Sandbox, str, datetime, datetime, list[str]], tmp_path: Path
) -> None:
    sandbox, url, since, until, ids = served
    out = tmp_path / "calls.csv"
    out.write_text("precious\n")
    result = CliRunner().invoke(records, export_args(url, since, until, out))
    assert result.exit_code == 2
    assert f"--out '{out}' exists: pass --force to replace it" in result.stderr
    assert "exporting" not in result.stderr
    assert out.read_text() == "precious\n"
    assert sandbox.state.requests.get("voice/recordSipQuery", 0) == 0

    result = CliRunner().invoke(records, export_args(url, since, until, out, "--force"))
    assert result.exit_code == 0, result.output
    assert f"{out} exists: it will be replaced" in result.stderr
    assert len(out.read_text().splitlines()) == len(ids) + 1


def test_a_checkpoint_of_another_export_is_refused_without_force(
    served: tuple[Sandbox, str, datetime, datetime, list[str]], tmp_path: Path
) -> None:
    _, url, since, until, ids = served
    out = tmp_path / "calls.csv"
    # Another export (another start) to the same file, interrupted after its first slice.
    other = Checkpoint(since + DAY, until, "csv", 1, 10, 500, since + 20 * DAY)
    checkpoint_path(out).write_text(json.dumps(to_wire(other)))
    part_path(out).write_bytes(b"x" * 500)
    result = CliRunner().invoke(records, export_args(url, since, until, out))
    assert result.exit_code == 2
    assert f"{checkpoint_path(out)} belongs to another export ({(since + DAY).isoformat()}" in (
        result.stderr
    )
    assert "--force" in result.stderr
    assert load_checkpoint(out) == other  # left alone

    result = CliRunner().invoke(records, export_args(url, since, until, out, "--force"))
    assert result.exit_code == 0, result.output
    assert f"discarding {checkpoint_path(out)}: it belongs to another export" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["resumedSlices"] == 0
    assert len(out.read_text().splitlines()) == len(ids) + 1
