"""The ``laaffic-async`` console script: check the ``cli`` extra, then run the click app.

It imports nothing outside the standard library until the check passes, so
an install without the extra gets one line saying what to install (exit 2)
instead of a ``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["INSTALL_HINT", "main", "missing_modules"]

#: What the command line needs beyond the SDK (the ``cli`` extra).
_NEEDS = ("click", "rich")
#: How to get them; until the package is on PyPI only the checkout form works.
INSTALL_HINT = (
    "install the 'cli' extra: python3 -m pip install -e '.[cli]' from a checkout "
    "(or 'laaffic-async[cli]' from a package index)"
)


def missing_modules() -> list[str]:
    """The command line's dependencies that cannot be imported."""
    missing = []
    for name in _NEEDS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a blocked or half-installed module
            found = False
        if not found:
            missing.append(name)
    return missing


def main() -> None:
    """Run ``laaffic-async``, or exit 2 naming the extra to install."""
    missing = missing_modules()
    if missing:
        sys.stderr.write(
            f"laaffic-async: the command line needs {' and '.join(missing)}, "
            f"which {'is' if len(missing) == 1 else 'are'} not installed; {INSTALL_HINT}\n"
        )
        raise SystemExit(2)
    from .main import main as app

    app(prog_name="laaffic-async")
