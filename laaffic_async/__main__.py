"""``python -m laaffic_async`` is the ``laaffic-async`` command."""

from ._cli import main

main(prog_name="laaffic-async")
