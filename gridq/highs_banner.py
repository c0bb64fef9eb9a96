"""HiGHS's banner, kept off a process's output.

HiGHS prints its banner from C on the first model of a process, before any option can silence
it; it would land above an error line, inside a printed table, or (from a fleet's worker
processes) on the fleet command's stderr. Later models print nothing, so one made muted at the
start of each process leaves that process's output its own.
"""

import os
import sys


def swallow_highs_banner() -> None:
    """Make the process's first ``highspy.Highs`` with stdout pointed at the null device."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
