"""`laaffic-async dial --redis`: the command line joins a fleet, or sends nothing."""

from __future__ import annotations

from pathlib import Path

from laaffic_async.testing import Sandbox

from .redis_support import RedisServer
from .test_cli_dial import json_lines, run, write


def test_dial_with_redis_shares_the_budgets(
    sandbox: Sandbox, sandbox_url: str, redis_url: str, tmp_path: Path
) -> None:
    sandbox.faults.latency = 0.02
    rows = "\n".join(f"9321{i:08d},acct{i % 4}" for i in range(12))
    args = [write(tmp_path, rows + "\n"), "--concurrency", "3", "--cps", "50"]
    result = run([*args, "--redis", redis_url, "--namespace", "cli-test"], sandbox_url)
    assert result.exit_code == 0, result.output
    records = json_lines(result.stdout)
    assert len(records) == 12
    assert all(r["outcome"] == "placed" for r in records)
    assert sandbox.state.peak_in_flight <= 3
    assert sandbox.state.peak_account_in_flight == 1


def test_dial_with_redis_down_sends_nothing(
    sandbox: Sandbox, sandbox_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.stop()
    path = write(tmp_path, "932100000001,acct1\n932100000002,acct2\n")
    result = run([path, "--redis", redis_server.url], sandbox_url)
    assert result.exit_code == 3, result.output
    assert "Redis is unreachable, nothing was sent" in result.stderr
    assert sandbox.state.dials == 0
    assert sandbox.state.requests["voice/sendSip"] == 0


def test_dial_refuses_a_bad_redis_url(sandbox_url: str, tmp_path: Path) -> None:
    result = run([write(tmp_path, "932100000001,acct1\n"), "--redis", "http://x"], sandbox_url)
    assert result.exit_code == 2
    assert "url: must be a redis://" in result.stderr


def test_dial_refuses_redis_with_a_journal(sandbox_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "932100000001,acct1\n")
    journal = str(tmp_path / "j.sqlite")
    out = str(tmp_path / "out.jsonl")
    args = [path, "--redis", "redis://127.0.0.1:1/0", "--journal", journal, "--out", out]
    result = run(args, sandbox_url)
    assert result.exit_code == 2
    assert "--redis with --journal" in result.stderr
