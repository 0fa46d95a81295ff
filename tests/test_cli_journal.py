"""``laaffic-async dial --journal --out``: killed with SIGKILL, rerun, nobody dialed twice.

The real console entry point runs in a subprocess against the sandbox over a
socket with 10% of sendSip connections dropped after the call was placed, 5%
dropped before, and 4% answered 502 before anything ran.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from laaffic_async._cli.dial import dial
from laaffic_async.journal import DialJournal
from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Faults,
    Sandbox,
    serve_in_thread,
)

ROWS = 300


@pytest.fixture
def faulty_url() -> Iterator[tuple[Sandbox, str]]:
    faults = Faults(
        drop_rate=0.10,
        drop_before_rate=0.05,
        error_rate=0.04,
        error_status=502,
        endpoints=frozenset({"voice/sendSip"}),
        latency=0.005,
        seed=13,
    )
    sandbox = Sandbox(faults=faults)
    with serve_in_thread(sandbox) as url:
        yield sandbox, url


def _command(tmp_path: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "laaffic_async",
        "dial",
        str(tmp_path / "numbers.csv"),
        "--journal",
        str(tmp_path / "campaign.sqlite3"),
        "--out",
        str(tmp_path / "outcomes.jsonl"),
        "--settle",
        "0.5",
        "--concurrency",
        "30",
        # Paced, so a run takes ~3 s and the kills below land mid-campaign on any machine.
        "--cps",
        "100",
        "--no-progress",
        "--base-url",
        url,
        *extra,
    ]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "LAAFFIC_API_KEY": SAMPLE_API_KEY,
        "LAAFFIC_API_SECRET": SAMPLE_API_SECRET,
        "LAAFFIC_APP_ID": SAMPLE_APP_ID,
    }


def _write_numbers(tmp_path: Path, rows: int, *, refs: bool = False) -> list[str]:
    callees = [f"9380{i:08d}" for i in range(rows)]
    lines = ["ref,callee,account" if refs else "callee,account"]
    for i, callee in enumerate(callees):
        prefix = f"crm-{i}," if refs else ""
        lines.append(f"{prefix}{callee},acct{i % 25:02d}")
    (tmp_path / "numbers.csv").write_text("\n".join(lines) + "\n")
    return callees


def test_killed_three_times_then_finished_dials_everyone_once(
    faulty_url: tuple[Sandbox, str], tmp_path: Path
) -> None:
    sandbox, url = faulty_url
    callees = _write_numbers(tmp_path, ROWS)
    rng = random.Random(20261204)
    killed_with_work_done = 0
    for _ in range(3):
        before = sandbox.state.dials
        process = subprocess.Popen(_command(tmp_path, url), env=_env(), stderr=subprocess.PIPE)
        # A random moment after the dialing started (the interpreter takes a while to start).
        deadline = time.monotonic() + 20
        while sandbox.state.dials == before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        killed_with_work_done += sandbox.state.dials > before
    assert killed_with_work_done == 3
    assert sandbox.state.dials < ROWS, "the kills came too late to test anything"
    final = subprocess.run(
        _command(tmp_path, url), env=_env(), capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr
    assert dict(sandbox.state.dials_by_callee) == dict.fromkeys(callees, 1)
    server = {row["callee"]: row["voiceId"] for row in sandbox.state.records}
    lines = [json.loads(line) for line in (tmp_path / "outcomes.jsonl").read_text().splitlines()]
    assert [line["callee"] for line in lines] == callees  # file order, one line per row
    assert [line["ref"] for line in lines] == [str(n) for n in range(2, ROWS + 2)]
    assert all(line["outcome"] == "placed" for line in lines)
    assert [line["voiceId"] for line in lines] == [server[c] for c in callees]
    assert not (tmp_path / "outcomes.jsonl.part").exists()


def test_ref_column_no_redial_and_a_second_process(tmp_path: Path) -> None:
    faults = Faults(error_rate=1.0, error_status=502, endpoints=frozenset({"voice/sendSip"}))
    faults.limit = 1
    sandbox = Sandbox(faults=faults)
    with serve_in_thread(sandbox) as url:
        _write_numbers(tmp_path, 4, refs=True)
        left = subprocess.run(
            _command(tmp_path, url, "--no-redial"), env=_env(), capture_output=True, text=True
        )
        assert left.returncode == 1, left.stderr
        lines = [json.loads(x) for x in (tmp_path / "outcomes.jsonl").read_text().splitlines()]
        assert [line["ref"] for line in lines] == ["crm-0", "crm-1", "crm-2", "crm-3"]
        assert sorted(line["outcome"] for line in lines) == ["failed", "placed", "placed", "placed"]
        assert "not placed" in next(x["message"] for x in lines if x["outcome"] == "failed")
        # The journal is held: a second dialer on it is refused at once, exit 2.
        holder = DialJournal(tmp_path / "campaign.sqlite3")
        try:
            refused = subprocess.run(
                _command(tmp_path, url), env=_env(), capture_output=True, text=True
            )
        finally:
            holder.close()
        assert refused.returncode == 2
        assert "in use by another dialer" in refused.stderr
        done = subprocess.run(_command(tmp_path, url), env=_env(), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert sandbox.state.dials == 4
    assert set(sandbox.state.dials_by_callee.values()) == {1}


def test_journal_options_need_a_journal_and_a_file(tmp_path: Path) -> None:
    _write_numbers(tmp_path, 2)
    numbers = str(tmp_path / "numbers.csv")
    runner = CliRunner()
    alone = runner.invoke(dial, [numbers, "--no-redial", "--base-url", "http://127.0.0.1:9/v3"])
    assert alone.exit_code == 2
    assert "need --journal" in alone.output
    to_stdout = runner.invoke(
        dial, [numbers, "--journal", str(tmp_path / "j"), "--base-url", "http://127.0.0.1:9/v3"]
    )
    assert to_stdout.exit_code == 2
    assert "--journal needs --out FILE" in to_stdout.output


def test_a_bad_row_or_a_line_that_is_not_utf8_exits_2_after_the_good_rows(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox()
    (tmp_path / "numbers.csv").write_bytes(
        b"callee,account\n932100000001,a\n12,b\n932100000003,caf\xe9\n932100000004,d\n"
    )
    with serve_in_thread(sandbox) as url:
        result = CliRunner().invoke(
            dial,
            [
                str(tmp_path / "numbers.csv"),
                *("--journal", str(tmp_path / "campaign.sqlite3")),
                *("--out", str(tmp_path / "outcomes.jsonl"), "--no-progress"),
                *("--base-url", url),
            ],
            env=_env(),
        )
    assert result.exit_code == 2, result.output
    lines = [json.loads(x) for x in (tmp_path / "outcomes.jsonl").read_text().splitlines()]
    assert [(line["line"], line["outcome"]) for line in lines] == [
        (2, "placed"),
        (3, "failed"),
        (4, "failed"),
        (5, "placed"),
    ]
    assert lines[2]["message"].startswith("is not UTF-8 text")
    assert set(sandbox.state.dials_by_callee) == {"932100000001", "932100000004"}
