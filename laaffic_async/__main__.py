"""``python -m laaffic_async`` is the ``laaffic-async`` command."""

from ._cli.entry import main

main()
