"""Run the explainops CLI and print this process's peak resident set size.

``python -m explainops.testing.peak_memory run CONFIG`` runs ``explainops run CONFIG``, then
prints ``PEAK_MIB <n>``: the process's own high-water mark (``VmHWM``). ``ru_maxrss`` would not
do: on Linux it also counts the parent's resident set at the fork that started the process.
"""

from __future__ import annotations

import sys

from explainops.cli import main


def peak_rss_mib() -> float:
    """Peak resident set size of the current process in MiB (Linux ``/proc/self/status``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM: peak memory needs Linux")


if __name__ == "__main__":
    code = main(sys.argv[1:])
    print("PEAK_MIB", peak_rss_mib(), flush=True)
    sys.exit(code)
