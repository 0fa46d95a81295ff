"""``python -m laaffic_async`` is the ``laaffic-async`` command."""

from ._cli.main import main

main(prog_name="laaffic-async")
