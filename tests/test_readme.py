"""Every fenced Python block of README.md runs, as written, against the sandbox on a socket.

Placeholders are substituted, nothing else: the ``LAAFFIC_API_KEY``/``_SECRET``/``_APP_ID``/
``_BASE_URL`` environment points at a sandbox served on 127.0.0.1 (so ``AsyncClient()``
reaches it), the literal credentials ``"API_KEY"``/``"API_SECRET"`` become the sandbox's,
``base_url=LAAFFIC`` (or ``ONBUKA``/``ITNIOTECH``) its URL, and any ``redis://`` URL a
real redis-server's. Each block runs in its own interpreter in an empty directory (a
block defining ``test_`` functions runs under pytest). A block that truly cannot run
is preceded by ``<!-- not-run: reason -->``; it must still compile.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import openpyxl
import pytest

from laaffic_async.testing import (
    SAMPLE_API_KEY,
    SAMPLE_API_SECRET,
    SAMPLE_APP_ID,
    Sandbox,
    seed_records,
    serve_in_thread,
)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.+?)\s*-->\s*$")
# Few, and each with its reason: a sample that cannot run is a sample that can rot.
MAX_NOT_RUN = 2


@attrs.frozen
class Block:
    line: int
    code: str
    not_run: str | None

    @property
    def is_test_module(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.MULTILINE) is not None


def readme_blocks() -> list[Block]:
    text = README.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.search(before)
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(line, match.group(1), reason.group(1) if reason else None))
    return blocks


BLOCKS = readme_blocks()


def substitute(code: str, base_url: str, redis_url: str | None) -> str:
    code = re.sub(r"""(["'])API_KEY\1""", repr(SAMPLE_API_KEY), code)
    code = re.sub(r"""(["'])API_SECRET\1""", repr(SAMPLE_API_SECRET), code)
    code = re.sub(r"base_url=(LAAFFIC|ONBUKA|ITNIOTECH)\b", f"base_url={base_url!r}", code)
    if redis_url is not None:
        code = re.sub(r"""redis://[^"'\s]*""", redis_url, code)
    return code


@pytest.fixture(scope="module")
def served_sandbox() -> Iterator[str]:
    """One sandbox for the module, with call records of the last weeks to page through."""
    sandbox = Sandbox()
    now = datetime.now(UTC)
    seed_records(sandbox, 300, now - timedelta(days=50), now - timedelta(minutes=5), seed=3)
    with serve_in_thread(sandbox) as url:
        yield url


def test_the_readme_has_python_blocks_and_few_are_not_run() -> None:
    assert len(BLOCKS) >= 8
    skipped = [block for block in BLOCKS if block.not_run is not None]
    assert len(skipped) <= MAX_NOT_RUN, [block.line for block in skipped]


def test_shell_samples_use_dates_inside_the_two_month_window() -> None:
    # A fixed date in a sample goes stale within two months: --since must be relative.
    shell = re.findall(r"^```(?:bash|console)\n(.*?)^```", README.read_text(), re.M | re.S)
    since = re.findall(r"--since\s+(\S+)", "".join(shell))
    assert since
    assert all(value.startswith('"$(date') for value in since), since


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{block.line}" for block in BLOCKS])
def test_the_readme_block_runs(
    block: Block, served_sandbox: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    compile(block.code, f"README.md:{block.line}", "exec")
    if block.not_run is not None:
        return
    redis_url = str(request.getfixturevalue("redis_url")) if "redis://" in block.code else None
    code = substitute(block.code, served_sandbox, redis_url)
    # Files a sample names as its input, as a user would have them.
    book = openpyxl.Workbook()
    book.active.append(["number"])
    book.active.append(["919876543210"])
    book.save(tmp_path / "numbers.xlsx")
    script = tmp_path / ("test_readme_block.py" if block.is_test_module else "readme_block.py")
    script.write_text(code)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LAAFFIC_")},
        "LAAFFIC_API_KEY": SAMPLE_API_KEY,
        "LAAFFIC_API_SECRET": SAMPLE_API_SECRET,
        "LAAFFIC_APP_ID": SAMPLE_APP_ID,
        "LAAFFIC_BASE_URL": served_sandbox,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    if redis_url is not None:
        env["LAAFFIC_REDIS_URL"] = redis_url
    command = [sys.executable, str(script)]
    if block.is_test_module:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
        command[4:4] = ["-c", os.devnull, "--rootdir", str(tmp_path)]  # not this repo's config
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"README.md:{block.line}\n{done.stdout}\n{done.stderr}"
    if block.is_test_module:
        assert re.search(r"\b[1-9]\d* passed\b", done.stdout), done.stdout
        assert "skipped" not in done.stdout
