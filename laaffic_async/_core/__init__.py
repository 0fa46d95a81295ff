"""The sans-I/O core: pure functions over values.

Nothing here opens a socket, reads a clock or sleeps; time and randomness
come in as arguments.  ``tests/core/test_purity.py`` keeps it that way by
scanning these modules' imports.
"""
