"""`laaffic-async call` and `laaffic-async sandbox` from the outside."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from laaffic_async._cli.main import main
from laaffic_async.testing import Faults, Sandbox

ENV = {
    "LAAFFIC_API_KEY": "bDqJFiq9",
    "LAAFFIC_API_SECRET": "7bz1lzh9",
    "LAAFFIC_APP_ID": "4luaKsL2",
}


def test_call_places_one_call(sandbox: Sandbox, sandbox_url: str) -> None:
    result = CliRunner().invoke(
        main, ["call", "932111111111", "--account", "a1", "--base-url", sandbox_url], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["voiceId"].isdigit()
    assert sandbox.state.dials_by_callee == {"932111111111": 1}


def test_call_bad_callee_is_usage_error(sandbox: Sandbox, sandbox_url: str) -> None:
    result = CliRunner().invoke(
        main, ["call", "12", "--account", "a1", "--base-url", sandbox_url], env=ENV
    )
    assert result.exit_code == 2
    assert "error: CALLEE '12': must be" in result.stderr
    assert sandbox.state.dials == 0


def test_call_refusals_name_the_option_and_the_value_as_typed(
    sandbox: Sandbox, sandbox_url: str
) -> None:
    args = ["call", "932111111111", "--account", "a1", "--display-num", "12"]
    result = CliRunner().invoke(main, [*args, "--base-url", sandbox_url], env=ENV)
    assert result.exit_code == 2
    assert "error: --display-num '12': must be" in result.stderr
    assert "displayNum" not in result.stderr
    assert sandbox.state.dials == 0


def test_call_missing_secret_is_usage_error(sandbox_url: str) -> None:
    env = {**ENV, "LAAFFIC_API_SECRET": ""}
    result = CliRunner().invoke(
        main, ["call", "932111111111", "--account", "a", "--base-url", sandbox_url], env=env
    )
    assert result.exit_code == 2
    assert "--api-secret" in result.stderr


def test_call_unknown_outcome_exits_1(sandbox: Sandbox, sandbox_url: str) -> None:
    sandbox.faults = Faults(drop_rate=1.0)
    result = CliRunner().invoke(
        main, ["call", "932111111111", "--account", "a", "--base-url", sandbox_url], env=ENV
    )
    assert result.exit_code == 1
    assert "may have been placed" in result.stderr
    assert sandbox.state.dials == 1


def test_sandbox_command_serves_the_vendor_sample() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "laaffic_async", "sandbox", "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, env={**os.environ})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the sandbox did not start")
                time.sleep(0.1)
        # The vendor's own request sample, only the URL changed: a stale sample timestamp -> -16.
        response = httpx.post(
            f"http://127.0.0.1:{port}/v3/voice/sendSip",
            headers={
                "Content-Type": "application/json;charset=UTF-8",
                "Sign": "05d7a50893e22a5c4bb3216ae3396c7c",
                "Timestamp": "1630468800",
                "Api-Key": "bDqJFiq9",
            },
            content=b'{"callee":"932111111111","displayNum":"1008122211",'
            b'"account":"test_001","appId":"4luaKsL2"}',
        )
        assert response.json()["status"] == "-16"
    finally:
        server.terminate()
        server.wait(timeout=10)
