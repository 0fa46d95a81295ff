"""One entry point for every check: `nox` runs lint, typing, tests; `nox -s bench` benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"
#: Every Python the classifiers in pyproject.toml name.
PYTHONS = ["3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """pytest on asyncio and trio (anyio's plugin), plus the docs' doctests."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def coverage(session: nox.Session) -> None:
    """The test suite under coverage.py, with a line report of what no test runs."""
    session.install("-e", ".[test]", "coverage[toml]>=7.4")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--show-missing", "--skip-covered")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict on the package and the tests."""
    session.install("-e", ".[typing]")
    session.run("mypy", "--strict", "laaffic_async", "tests")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against a local server; rewrites benchmarks/RESULTS.md."""
    session.install("-e", ".[test]", "pyinstrument")
    session.run("python", "benchmarks/run.py", *session.posargs)
