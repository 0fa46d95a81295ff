"""The examples and the demo run as a user would run them, against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from laaffic_async._cli.main import main

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAAFFIC_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / args[0]), *args[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dialer_worker(tmp_path: Path) -> None:
    out = run_example(tmp_path, "dialer_worker.py", "50")
    assert "placed 50, failed 0, unknown 0" in out


def test_nightly_export(tmp_path: Path) -> None:
    out = run_example(tmp_path, "nightly_export.py", "--days", "40", "--out", "calls.csv")
    assert "5000 records" in out
    lines = (tmp_path / "calls.csv").read_text().splitlines()
    assert lines[0].startswith("voiceId,")
    assert len(lines) == 5001


def test_fastapi_app(tmp_path: Path) -> None:
    out = run_example(tmp_path, "fastapi_app.py", "--selftest")
    assert out.startswith("ok: call")


def test_dial_many(tmp_path: Path) -> None:
    assert run_example(tmp_path, "dial_many.py", "40").strip()


def test_push_receiver_demo(tmp_path: Path) -> None:
    out = run_example(tmp_path, "push_receiver.py", "--demo")
    assert "agent 8001 is ringing" in out
    assert out.count("ended:") == 3


def test_call_center_task(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    for n in range(20):
        book.active.append([f"9321{n:08d}"])
    book.save(tmp_path / "numbers.xlsx")
    out = run_example(tmp_path, "call_center_task.py", "numbers.xlsx")
    assert "task" in out.lower()


def test_demo_command(tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"
    result = CliRunner().invoke(
        main,
        ["demo", "--calls", "300", "--accounts", "30", "--history", "2000", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "calls placed" in result.stdout
    assert "300" in result.stdout
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + 2300  # header + history + the calls just placed
    assert f"records written to {out}" in result.stderr


def test_demo_writes_under_a_temporary_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    tempfile.tempdir = None  # TMPDIR is read again
    try:
        result = CliRunner().invoke(
            main, ["demo", "--calls", "20", "--accounts", "5", "--history", "30"]
        )
    finally:
        tempfile.tempdir = None
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "demo-records.csv").exists()  # nothing in the working directory
    [written] = (tmp_path / "tmp").glob("laaffic-async-demo-*/demo-records.csv")
    assert f"records written to {written}" in result.stderr
    assert len(written.read_text().splitlines()) == 1 + 50


def test_crash_safe_dial(tmp_path: Path) -> None:
    first = run_example(tmp_path, "crash_safe_dial.py", "60")
    assert "placed 60, replayed 0, not placed 0" in first
    again = run_example(tmp_path, "crash_safe_dial.py", "60")
    assert "placed 0, replayed 60, not placed 0" in again
