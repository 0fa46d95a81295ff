"""`laaffic-async dial` against the sandbox over a real socket (CliRunner drives the command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.progress import Progress, TaskID

from laaffic_async._cli.dial import dial
from laaffic_async.testing import Faults, Sandbox

ENV = {
    "LAAFFIC_API_KEY": "bDqJFiq9",
    "LAAFFIC_API_SECRET": "7bz1lzh9",
    "LAAFFIC_APP_ID": "4luaKsL2",
}


def run(args: list[str], url: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(
        dial, [*args, "--base-url", url, "--no-progress"], env=ENV, input=stdin
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "numbers.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_dials_every_good_row_and_reports_bad_ones(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    good = [f"9321{i:08d},acct{i % 5},ref-{i}" for i in range(30)]
    text = "callee,account,calledInfo\n" + "\n".join(good[:10])
    text += "\n12345,acct1,too short\n932199999999,,no account\n" + "\n".join(good[10:]) + "\n"
    out = tmp_path / "outcomes.jsonl"
    result = run([write(tmp_path, text), "--concurrency", "8", "--out", str(out)], sandbox_url)
    assert result.exit_code == 2, result.output  # bad rows are bad input
    assert "line 12: callee:" in result.stderr
    assert "line 13: account:" in result.stderr
    assert "bad rows 2" in result.stderr
    records = json_lines(out.read_text())
    assert len(records) == 30
    assert all(r["outcome"] == "placed" and r["voiceId"] for r in records)
    by_callee = {r["callee"]: r for r in records}
    assert by_callee["932100000000"]["line"] == 2
    assert by_callee["932100000010"]["line"] == 14
    assert by_callee["932100000010"]["calledInfo"] == "ref-10"
    # Exactly the good rows were dialed, each once; the bad ones never.
    assert set(sandbox.state.dials_by_callee) == {g.split(",")[0] for g in good}
    assert set(sandbox.state.dials_by_callee.values()) == {1}
    assert sandbox.state.peak_in_flight <= 8


def test_all_placed_exits_0_and_writes_stdout(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    text = "".join(f"9321{i:08d}\n" for i in range(12))
    result = run([write(tmp_path, text), "--account", "main", "--cps", "200"], sandbox_url)
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert sorted(r["line"] for r in records) == list(range(1, 13))
    assert {r["account"] for r in records} == {"main"}
    assert sandbox.state.dials == 12
    assert "placed 12, failed 0, unknown 0, bad rows 0" in result.stderr


def test_ordered_writes_in_file_order(sandbox: Sandbox, sandbox_url: str, tmp_path: Path) -> None:
    sandbox.faults = Faults(latency=0.001, jitter=0.02, seed=2)
    text = "".join(f"9321{i:08d},a{i}\n" for i in range(40))
    result = run([write(tmp_path, text), "--ordered", "--concurrency", "10"], sandbox_url)
    assert result.exit_code == 0, result.output
    assert [r["line"] for r in json_lines(result.stdout)] == list(range(1, 41))


def test_unknown_outcomes_exit_1_with_advice(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    sandbox.faults = Faults(drop_rate=1.0, limit=2)
    text = "".join(f"9321{i:08d},a{i}\n" for i in range(6))
    result = run([write(tmp_path, text), "--concurrency", "1"], sandbox_url)
    assert result.exit_code == 1
    outcomes = [r["outcome"] for r in json_lines(result.stdout)]
    assert sorted(outcomes) == ["placed"] * 4 + ["unknown"] * 2
    assert "check the records before redialing" in result.stderr
    # The dropped ones were dialed once (the sandbox did the work) and never again.
    assert set(sandbox.state.dials_by_callee.values()) == {1}
    assert sandbox.state.dials == 6


def test_busy_without_retry_is_a_failed_line(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    sandbox.state.call_seconds = 60
    text = "932100000001,same\n932100000002,same\n"
    result = run([write(tmp_path, text), "--no-retry-busy"], sandbox_url)
    assert result.exit_code == 1
    failed = [r for r in json_lines(result.stdout) if r["outcome"] == "failed"]
    assert [(r["error"], r["status"]) for r in failed] == [("SipBusyError", "-68")]


def test_reads_stdin(sandbox: Sandbox, sandbox_url: str) -> None:
    result = run(["-", "--account", "a"], sandbox_url, stdin="932100000001\n932100000002\n")
    assert result.exit_code == 0, result.output
    assert sandbox.state.dials == 2


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_a_line_that_is_not_utf8_is_reported_and_the_rest_dialed(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path, source: str
) -> None:
    good = [f"9321{i:08d},a{i}".encode() for i in range(20)]
    data = b"\n".join([*good[:5], b"932199999999,b,caf\xe9", *good[5:]]) + b"\n"
    if source == "file":
        path = tmp_path / "numbers.csv"
        path.write_bytes(data)
        result = run([str(path)], sandbox_url)
    else:
        result = run(["-"], sandbox_url, stdin=data)
    assert result.exit_code == 2, result.output
    assert "line 6: is not UTF-8 text (byte 0xe9 at column 19) (skipped)" in result.stderr
    assert "Traceback" not in result.output
    assert len(json_lines(result.stdout)) == 20
    assert set(sandbox.state.dials_by_callee) == {g.decode().split(",")[0] for g in good}


def test_an_unknown_header_is_refused_before_dialing(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    result = run([write(tmp_path, "foo,bar\n932100000001,a\n")], sandbox_url)
    assert result.exit_code == 2
    assert "error: header 'foo,bar': names no known column" in result.stderr
    assert sum(sandbox.state.requests.values()) == 0


def test_the_summary_line_is_whole_when_piped(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "932100000001,a\n932100000002,b\n")
    for progress in ("--progress", "--no-progress"):
        sandbox.faults = Faults(drop_rate=1.0, limit=1)
        result = CliRunner().invoke(dial, [path, "--base-url", sandbox_url, progress], env=ENV)
        assert "…" not in result.stderr  # nothing cut to the console's width
        summary = result.stderr.splitlines()[-1]
        assert summary.startswith("placed "), result.stderr
        assert summary.endswith("check the records before redialing them"), result.stderr
        assert len(summary) > 100


def test_the_bar_total_counts_data_rows_only(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    totals: list[float | None] = []
    original = Progress.add_task

    def add_task(self: Progress, description: str, **kwargs: Any) -> TaskID:
        totals.append(kwargs.get("total"))
        return original(self, description, **kwargs)

    monkeypatch.setattr(Progress, "add_task", add_task)
    text = "callee,account\n\n# three data rows\n932100000001,a\n\n12,a\n932100000003,c\n"
    result = CliRunner().invoke(
        dial,
        [write(tmp_path, text), "--base-url", sandbox_url, "--progress"],
        env={**ENV, "TTY_COMPATIBLE": "1"},  # draw the bar as on a terminal
    )
    assert result.exit_code == 2, result.output
    assert totals == [3]


def test_bad_header_is_a_usage_error(sandbox: Sandbox, sandbox_url: str, tmp_path: Path) -> None:
    result = run([write(tmp_path, "account,calledInfo\na,b\n")], sandbox_url)
    assert result.exit_code == 2
    assert "no callee" in result.stderr
    assert sum(sandbox.state.requests.values()) == 0


def test_missing_credentials_are_a_usage_error(sandbox_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        dial,
        [write(tmp_path, "932100000001,a\n"), "--base-url", sandbox_url],
        env={"LAAFFIC_API_KEY": "", "LAAFFIC_API_SECRET": ""},
    )
    assert result.exit_code == 2
    assert "api_key" in result.stderr


def test_bad_options_are_usage_errors(sandbox_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "932100000001,a\n")
    assert run([path, "--concurrency", "0"], sandbox_url).exit_code == 2
    assert run([path, "--cps", "0"], sandbox_url).exit_code == 2
    assert run([str(tmp_path / "missing.csv")], sandbox_url).exit_code == 2


def test_progress_bar_does_not_break_output(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "".join(f"9321{i:08d},a{i}\n" for i in range(5)))
    result = CliRunner().invoke(dial, [path, "--base-url", sandbox_url, "--progress"], env=ENV)
    assert result.exit_code == 0, result.output
    assert len(json_lines(result.stdout)) == 5
