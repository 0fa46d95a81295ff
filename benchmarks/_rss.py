"""Peak resident memory of this process, measured so that a parent's size never leaks in.

``getrusage().ru_maxrss`` is the wrong tool in a benchmark's child process: Linux carries
the high-water mark across ``fork``/``exec``, so a child started by a 100 MB runner reports
at least 100 MB whatever it used. ``VmHWM`` in ``/proc/self/status`` belongs to the
process's own address space and starts afresh at ``exec``.
"""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's peak RSS in MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
