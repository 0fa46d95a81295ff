"""The console script's entry, its exit codes, and options checked before anything runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from laaffic_async._cli.common import EXIT_CODES
from laaffic_async._cli.main import main
from laaffic_async.testing import Faults, Sandbox

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "LAAFFIC_API_KEY": "bDqJFiq9",
    "LAAFFIC_API_SECRET": "7bz1lzh9",
    "LAAFFIC_APP_ID": "4luaKsL2",
}


def run_entry_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script's entry in a fresh interpreter where ``module`` cannot be imported."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules[{module!r}] = None  # import {module} now raises ImportError
        sys.argv = ["laaffic-async", *{list(args)!r}]
        from laaffic_async._cli.entry import main
        main()
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("module", ["click", "rich"])
def test_without_the_cli_extra_the_command_says_what_to_install(module: str) -> None:
    done = run_entry_without(module, "demo")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"needs {module}, which is not installed" in done.stderr
    assert "python3 -m pip install -e '.[cli]'" in done.stderr
    assert done.stdout == ""


def test_the_console_script_is_the_entry_and_each_extra_is_enough() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["laaffic-async"] == "laaffic_async._cli.entry:main"
    extras = project["optional-dependencies"]
    # `laaffic-async sandbox` is a command: its extra brings the command line too.
    assert "laaffic-async[cli]" in extras["sandbox"]
    assert any(req.startswith("uvicorn") for req in extras["sandbox"])
    assert {req.split(">")[0] for req in extras["cli"]} == {"click", "rich"}


def test_python_dash_m_runs_the_same_entry() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "laaffic_async", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("laaffic-async, version ")


@pytest.mark.parametrize(
    ("base_url", "hint"),
    [
        ("127.0.0.1:18080/v3", "did you mean 'http://127.0.0.1:18080/v3'?"),
        ("api.laaffic.com/v3", "did you mean 'https://api.laaffic.com/v3'?"),
    ],
)
def test_a_base_url_without_a_scheme_is_a_usage_error_with_a_hint(base_url: str, hint: str) -> None:
    args = ["call", "932111111111", "--account", "a", "--base-url", base_url]
    result = CliRunner().invoke(main, args, env=ENV)
    assert result.exit_code == 2
    assert "'--base-url'" in result.stderr
    assert hint in result.stderr
    env_only = CliRunner().invoke(main, args[:-2], env={**ENV, "LAAFFIC_BASE_URL": base_url})
    assert env_only.exit_code == 2
    assert hint in env_only.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--error-rate", "2"],
        ["--error-rate", "-0.1"],
        ["--drop-rate", "1.5"],
        ["--latency", "-1"],
        ["--call-seconds", "-5"],
        ["--port", "70000"],
    ],
)
def test_sandbox_options_outside_their_range_are_refused(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["sandbox", *args])
    assert result.exit_code == 2
    assert f"Invalid value for '{args[0]}'" in result.stderr
    assert "sandbox on" not in result.stderr  # refused before serving


@pytest.mark.parametrize(
    "command", [[], ["call"], ["dial"], ["records", "export"], ["sandbox"], ["demo"]]
)
def test_every_help_shows_the_one_exit_code_table(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0
    for line in EXIT_CODES.splitlines()[1:]:
        assert line.strip() in result.stdout


def test_the_readme_shows_the_same_exit_code_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = EXIT_CODES.removeprefix("\b\n")
    assert table in readme


def test_dial_interrupted_exits_130_with_what_it_knows(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    sandbox.faults = Faults(latency=0.05)
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("".join(f"9321{i:08d},a{i}\n" for i in range(2000)))
    command = [sys.executable, "-m", "laaffic_async", "dial", str(numbers), "--concurrency", "4"]
    env = {**os.environ, **ENV, "LAAFFIC_BASE_URL": sandbox_url}
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell without job control starts background jobs with SIGINT ignored, and a
        # child inherits that: give the command the default a user's terminal gives it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()  # a call has been placed: interrupt mid-batch
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "Traceback" not in errors
    assert first.startswith('{"line"')
    lines = [first, *rest.splitlines()]
    assert 1 <= len(lines) < 2000
    assert errors.splitlines()[-1].startswith("placed ")
